"""NLE over iid events (pdfinfer.nle): normalization of the learned density, a toy with a known
posterior, permutation invariance, refusal of foreign models, NaN handling, settings."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy import stats

from pdfinfer.errors import DataError, TrainingError
from pdfinfer.io import EventSet, write_events
from pdfinfer.nle import posterior as nle_posterior
from pdfinfer.nle import sample as nle_sample
from pdfinfer.nle.loop import fit_loop, subsample, train
from pdfinfer.nle.model import build_model, load_model, quiet_library_warnings, save_model
from pdfinfer.nle.posterior import NLELogPosterior, mcmc_settings
from pdfinfer.nle.settings import NLESettings
from pdfinfer.params import TRUTH
from pdfinfer.reference.mcmc import MCMCSettings, run_mcmc
from pdfinfer.theory import make_theory

ROOT = Path(__file__).resolve().parents[1]
quiet_library_warnings()

TINY = {
    "hidden_features": 16,
    "num_transforms": 2,
    "num_bins": 6,
    "events_per_row": 16,
    "validation_events_per_row": 16,
    "batch_size": 256,
    "max_epochs": 2,
    "norm": {"hidden": 8, "layers": 1, "max_epochs": 3},
    "mcmc": {"n_chains": 2, "n_walkers": 8, "n_burn": 20, "n_steps": 40, "max_steps": 40, "rhat_max": 100.0},
    "n_samples": 200,
}


def proxy_shards(rows: int, n_events: int, seed: int = 0) -> EventSet:
    """Prior-predictive rows ``(rows, n_events, 2)`` of the proxy theory, as the shards hold them."""
    theory = make_theory("proxy")
    gen = torch.Generator().manual_seed(seed)
    eta = torch.rand(rows, 6, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    events = theory.sample(eta, n_events, generator=gen).numpy()
    norm = theory.sample_norm(eta, 0.02, generator=gen).numpy()
    return EventSet(events, eta.numpy(), norm, theory.spec(), {"norm_rel_unc": 0.02}, "memory")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny NLE model of the proxy theory (normalization on), trained for two epochs, saved."""
    settings = NLESettings.from_config(TINY)
    model, spec, history = train(proxy_shards(256, 32), True, settings, seed=1, device=torch.device("cpu"))
    path = tmp_path_factory.mktemp("nle") / "likelihood.pt"
    save_model(path, model, settings.as_dict(), spec, history)
    return path, spec


def test_settings_schema_and_config_agree() -> None:
    """The schema's defaults, config.yaml's nle section and NLESettings' defaults are the same values."""

    def defaults(node: dict) -> dict:
        return {k: defaults(p) if p.get("type") == "object" else p["default"] for k, p in node["properties"].items()}

    schema = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())["properties"]["nle"]
    workflow_keys = set(NLESettings.WORKFLOW_KEYS)
    from_schema = {k: v for k, v in defaults(schema).items() if k not in workflow_keys}
    shown = {
        k: v for k, v in yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["nle"].items() if k not in workflow_keys
    }
    assert from_schema == NLESettings.defaults() == shown


def test_learned_density_integrates_to_one(tiny: tuple[Path, dict]) -> None:
    """int q(x_p, x_n | eta) dx over the support [0.1, 1)^2 is 1 (Jacobian of the logit/standardization included).

    400 x 400 Gauss-Legendre nodes in the ORIGINAL coordinates; the integrand is smooth and vanishes
    at the edges (Gaussian tails in logit space), so the quadrature error is below 1e-4 (doubling
    the nodes changes the result by less); the logit clamp loses < 1e-9. Tolerance 2e-3. Without the
    log-Jacobian the integral would be off by O(1).
    """
    model, _ = load_model(tiny[0])
    nodes, weights = np.polynomial.legendre.leggauss(400)
    x = 0.1 + 0.45 * (nodes + 1.0)
    w = 0.45 * weights
    grid = torch.as_tensor(np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2))
    w2 = torch.as_tensor(np.outer(w, w).reshape(-1))
    for eta in (TRUTH, np.full(6, 0.3), np.array([0.9, 0.1, 0.2, 0.5, 0.8, 0.4])):
        rows = torch.as_tensor(eta, dtype=torch.float32).expand(len(grid), 6)
        with torch.no_grad():
            density = torch.exp(model.events(grid, rows))
        assert float((density * w2).sum()) == pytest.approx(1.0, abs=2e-3)


def test_norm_density_integrates_to_one(tiny: tuple[Path, dict]) -> None:
    """int q(z | eta) dz = 1 over z in (0, inf)^2 (a density of z itself, log-Jacobian included): Gauss-Legendre in log z."""
    model, _ = load_model(tiny[0])
    nodes, weights = np.polynomial.legendre.leggauss(300)
    lz = np.log(np.asarray(model.norm.log_mean.exp())[:, None]) + 2.0 * nodes[None]  # +-2 around the mean log z (std ~ 0.5)
    z = np.stack(np.meshgrid(np.exp(lz[0]), np.exp(lz[1]), indexing="ij"), -1).reshape(-1, 2)
    jac = np.outer(2.0 * weights * np.exp(lz[0]), 2.0 * weights * np.exp(lz[1])).reshape(-1)  # dz = z dlog z
    eta = torch.as_tensor(TRUTH, dtype=torch.float32).expand(len(z), 6)
    with torch.no_grad():
        density = torch.exp(model.norm(torch.as_tensor(z), eta)).numpy()
    total = float((density * jac).sum())
    assert 0.9 < total <= 1.0 + 1e-3  # mass beyond +-2 in log z is small but not zero for an untrained scale


TOY_SETTINGS = {
    "flow": "maf",
    "hidden_features": 16,
    "num_transforms": 1,
    "batch_size": 512,
    "learning_rate": 0.003,
    "max_epochs": 8,
    "stop_after_epochs": 3,
}


def test_toy_posterior_matches_grid() -> None:
    """1-parameter toy x ~ N(2 eta, 1), eta ~ U[0, 1]: the NLE iid posterior of 20 events matches the grid posterior.

    KS distance of the MCMC draws to the grid posterior's CDF; threshold 1.63 / sqrt(min ESS) (the
    alpha = 0.01 KS bound for ESS independent draws) + 0.05 for the learned likelihood: a flow mean
    error of 0.02 in x shifts eta by 0.01 = 0.09 posterior sd (sd = 1/(2 sqrt(20)) = 0.11), moving
    the KS distance by < 0.04. Summing or averaging wrongly over events changes the width by
    sqrt(20) and fails by far.
    """
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    rows, per_row = 2048, 16
    eta = torch.rand(rows, 1, generator=gen)
    events = (2.0 * eta[:, :, None] + torch.randn(rows, per_row, 1, generator=gen)).float()
    spec = {"n_params": 1, "n_features": 1, "n_norm": 0, "lower": [0.0], "upper": [1.0], "bounded": [False], "logged": [False]}
    settings = NLESettings.from_config(TOY_SETTINGS)
    x0, eta0 = subsample(events, eta, torch.arange(rows), per_row, gen)
    model = build_model(settings.as_dict(), spec, eta0, x0)
    train_rows, val_rows = torch.arange(1792), torch.arange(1792, rows)
    val = subsample(events, eta, val_rows, per_row, gen)
    fit_loop(
        model.events, lambda g: subsample(events, eta, train_rows, per_row, g), val, settings, gen, "toy", None, lambda s: None
    )

    truth = 0.6
    obs = (2.0 * truth + torch.randn(20, 1, generator=gen)).numpy()
    posterior = NLELogPosterior(model, obs, names=("eta",))
    result = run_mcmc(
        posterior, MCMCSettings(n_chains=2, n_walkers=8, n_burn=100, n_steps=400, max_steps=1600, n_samples=2000), seed=3
    )
    grid = np.linspace(0.0, 1.0, 20001)
    log_post = -0.5 * ((obs[:, 0][None] - 2.0 * grid[:, None]) ** 2).sum(1)
    cdf = np.cumsum(np.exp(log_post - log_post.max()))
    cdf /= cdf[-1]
    distance = stats.kstest(result.samples[:, 0], lambda t: np.interp(t, grid, cdf)).statistic
    assert distance < 1.63 / math.sqrt(float(result.ess_bulk.min())) + 0.05


def observed_proxy(tmp_path: Path, n: int = 64, theory: str | dict = "proxy", seed: int = 5) -> Path:
    th = make_theory(theory)
    eta = torch.as_tensor(TRUTH[None])
    gen = torch.Generator().manual_seed(seed)
    events = th.sample(eta, n, generator=gen)[0].numpy()
    norm = th.sample_norm(eta, 0.02, generator=gen)[0].numpy()
    path = tmp_path / f"observed_{th.name}_{seed}.h5"
    write_events(path, events, TRUTH, norm, th.spec(), seed=seed, norm_rel_unc=0.02)
    return path


def test_permuting_observed_events_leaves_draws_unchanged(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    """Same seed, same events in another order: bit-identical draws (canonical order before the sum)."""
    model, _ = load_model(tiny[0])
    events = make_theory("proxy").sample(torch.as_tensor(TRUTH[None]), 64, generator=torch.Generator().manual_seed(2))[0].numpy()
    norm = make_theory("proxy").normalizers(torch.as_tensor(TRUTH[None]))[0].numpy()
    settings = NLESettings.from_config(TINY)
    perm = np.random.default_rng(0).permutation(len(events))
    a = nle_posterior.sample_posterior(model, events, norm, settings, seed=11).samples
    b = nle_posterior.sample_posterior(model, events[perm], norm, settings, seed=11).samples
    assert np.array_equal(a, b)
    assert a.std(0).min() > 0  # the chains moved


@pytest.mark.parametrize("theory", [{"name": "proxy", "x_min": 0.2}, "dis"], ids=["other-theory-settings", "other-feature-width"])
def test_foreign_model_refused_with_one_line(
    tiny: tuple[Path, dict], tmp_path: Path, theory, capsys: pytest.CaptureFixture
) -> None:
    """A model trained on proxy (x_min 0.1, 2 features) is refused for another theory or feature width, naming the file."""
    observed = observed_proxy(tmp_path, 16, theory)
    out = tmp_path / "samples.h5"
    status = nle_sample.main(
        ["--model", str(tiny[0]), "--observed", str(observed), "--normalization", "on", "--out", str(out), "--device", "cpu"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and not out.exists()
    assert err[-1].startswith("error: ") and str(tiny[0]) in err[-1] and "retrain" in err[-1]


def test_normalization_flag_mismatch_refused(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    from pdfinfer.nle.model import check_compatible

    with pytest.raises(DataError, match="normalization observable on"):
        check_compatible(tiny[0], tiny[1], tiny[1]["theory"], 2, use_norm=False)


def test_nan_log_likelihood_names_the_parameter_point(tiny: tuple[Path, dict]) -> None:
    """A NaN in the learned log-likelihood stops MCMC with one line naming the parameter point."""
    model, _ = load_model(tiny[0])
    with torch.no_grad():
        next(model.events.flow.parameters()).fill_(float("nan"))
    events = make_theory("proxy").sample(torch.as_tensor(TRUTH[None]), 32, generator=torch.Generator().manual_seed(0))[0].numpy()
    posterior = NLELogPosterior(model, events, np.array([3.3, 1.9]))
    point = np.array([[0.5, 0.25, 0.6, 0.125, 0.75, 0.5]])
    with pytest.raises(TrainingError) as err:
        posterior(point)
    message = str(err.value)
    assert (
        "\n" not in message and "N_u=0.5" in message and "b_d=0.5" in message and "N_u=1.5" in message
    )  # normalized and physical
    with pytest.raises(TrainingError, match="NaN at eta"):
        nle_posterior.sample_posterior(model, events, np.array([3.3, 1.9]), NLESettings.from_config(TINY), seed=0)


def test_normalization_coordinates_leave_the_learned_density_unchanged(tiny: tuple[Path, dict]) -> None:
    """With the normalization observable, NLE's walkers move in the referee's (log Z_1, log Z_2, shapes):
    the density there is NLE's own at eta(y) plus the same log-Jacobian the exact posterior gets."""
    from pdfinfer.reference.coordinates import make_coordinates
    from pdfinfer.reference.likelihood import LogPosterior

    model, _ = load_model(tiny[0])
    theory = make_theory("proxy")
    events = theory.sample(torch.as_tensor(TRUTH[None]), 50, generator=torch.Generator().manual_seed(2))[0].numpy()
    norm = np.array([3.3, 1.9])
    learned = NLELogPosterior(model, events, norm, theory=theory)
    exact = LogPosterior(theory, events, norm, 0.02)
    coords, reference = make_coordinates("auto", learned), make_coordinates("auto", exact)
    assert coords.name == reference.name == "normalization"
    assert make_coordinates("auto", NLELogPosterior(model, events, norm)).name == "box"  # no theory to map through
    eta = np.random.default_rng(3).uniform(0.2, 0.8, size=(6, 6))
    y = coords.to_y(eta)
    np.testing.assert_allclose(coords.to_eta(y), eta, atol=1e-10)
    jacobian = reference(y) - exact(eta)
    np.testing.assert_allclose(coords(y) - learned(eta), jacobian, atol=1e-6 * np.abs(learned(eta)).max())
    assert mcmc_settings(NLESettings.from_config(TINY)).coordinates == "auto"


def test_sum_rule_constraint_adds_the_referees_prior_factor(tiny: tuple[Path, dict]) -> None:
    """With observation.constraints on, NLE's log-posterior is its learned likelihood plus exactly the
    log f the exact referee adds (the same prior for both); kind none leaves it unchanged."""
    from pdfinfer.constraints.settings import ConstraintSettings
    from pdfinfer.constraints.sumrules import log_factor

    model, _ = load_model(tiny[0])
    events = make_theory("proxy").sample(torch.as_tensor(TRUTH[None]), 40, generator=torch.Generator().manual_seed(5))[0].numpy()
    norm = np.array([3.3, 1.9])
    eta = np.random.default_rng(6).uniform(0.1, 0.9, size=(5, 6))
    plain = NLELogPosterior(model, events, norm)(eta)
    for form in ("soft", "hard"):
        constraint = ConstraintSettings.from_config({"kind": "sum_rules", "form": form, "tolerance": 0.1})
        factor = log_factor(torch.as_tensor(eta), constraint).numpy()
        assert np.all(factor < 0)  # the rows are off the sum rules: the factor bites
        np.testing.assert_allclose(NLELogPosterior(model, events, norm, constraint=constraint)(eta) - plain, factor, atol=1e-8)
    none = ConstraintSettings.from_config({"kind": "none"})
    np.testing.assert_array_equal(NLELogPosterior(model, events, norm, constraint=none)(eta), plain)


def test_chunked_sum_equals_unchunked(tiny: tuple[Path, dict]) -> None:
    """Chunking over walkers and events (for n_obs up to 102400) does not change the log-likelihood."""
    model, _ = load_model(tiny[0])
    events = make_theory("proxy").sample(torch.as_tensor(TRUTH[None]), 300, generator=torch.Generator().manual_seed(4))[0].numpy()
    eta = np.random.default_rng(1).uniform(0.1, 0.9, size=(7, 6))
    whole = NLELogPosterior(model, events, np.array([3.3, 1.9]), chunk_elements=1 << 20)(eta)
    chunked = NLELogPosterior(model, events, np.array([3.3, 1.9]), chunk_elements=128)(eta)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6 * np.abs(whole).max())
    with torch.no_grad():  # and equals the per-event sum of single-pair evaluations
        rows = torch.as_tensor(eta[:1], dtype=torch.float32).expand(len(events), 6)
        direct = float(model.events(torch.as_tensor(events), rows).sum() + model.norm(torch.tensor([[3.3, 1.9]]), rows[:1]).sum())
    assert whole[0] == pytest.approx(direct, rel=1e-6)


def test_cli_train_then_sample_writes_the_common_layout(tmp_path: Path) -> None:
    """train CLI -> likelihood.pt (checkpoint discarded); sample CLI -> samples (K, 6), method nle, wall time, model path."""
    import json

    from pdfinfer.io import read_samples
    from pdfinfer.nle import train as nle_train

    data = proxy_shards(64, 16, seed=3)
    shard = tmp_path / "shard0.h5"
    write_events(shard, data.events, data.params, data.norm, data.theory, seed=3, norm_rel_unc=0.02)
    model, ckpt, out = tmp_path / "likelihood.pt", tmp_path / "ckpt.pt", tmp_path / "samples.h5"
    settings = json.dumps({**TINY, "max_epochs": 1})
    assert (
        nle_train.main(
            [
                "--shards",
                str(shard),
                "--normalization",
                "off",
                "--settings",
                settings,
                "--checkpoint",
                str(ckpt),
                "--out",
                str(model),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert model.exists() and not ckpt.exists()
    observed = observed_proxy(tmp_path, 32)
    assert (
        nle_sample.main(
            [
                "--model",
                str(model),
                "--observed",
                str(observed),
                "--normalization",
                "off",
                "--settings",
                settings,
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    result = read_samples(out)
    assert result.method == "nle" and result.samples.shape == (200, 6)
    assert result.attrs["model"] == str(model) and result.attrs["wall_time_s"] >= result.attrs["train_seconds"] > 0
