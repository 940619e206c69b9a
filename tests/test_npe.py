"""NPE baseline (pdfinfer.npe): settings, embedding invariance, checkpoints, save/reload, sampling, bad input.

A tiny prior-predictive training set (48 sets x 32 events, proxy theory) is simulated once per
module and a tiny model trained on it for 2 epochs; the tests check properties that hold for any
trained weights (exact invariances, reload identity, determinism, resume identity, error
messages), not the quality of the fit (that is measured by benchmarks/bench_npe.py).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import yaml

from pdfinfer.errors import ConfigError, DataError
from pdfinfer.io import read_events, read_h5, read_samples, write_events
from pdfinfer.npe import diagnostics as npe_diagnostics
from pdfinfer.npe import sample as npe_sample
from pdfinfer.npe import train as npe_train
from pdfinfer.npe.embedding import EventLinear, SetEmbedding, flatten_observation
from pdfinfer.npe.loop import train_npe
from pdfinfer.npe.model import check_fits, load_model, make_posterior, observation_tensor, save_model
from pdfinfer.npe.sample import draw
from pdfinfer.npe.settings import EmbeddingSettings, NPESettings
from pdfinfer.params import TRUTH
from pdfinfer.runtime import make_generator
from pdfinfer.simulate import simulate_sets
from pdfinfer.theory import make_theory

N_EVENTS = 32
TINY = {
    "hidden_features": 16,
    "num_transforms": 2,
    "num_bins": 4,
    "embedding": {"event_hidden": 8, "event_layers": 1, "event_features": 4, "hidden": 16, "output_dim": 8},
    # constant schedule: the checkpoint tests resume across max_epochs (the cosine schedule depends on it)
    "training": {"batch_size": 16, "max_epochs": 2, "stop_after_epochs": 5, "schedule": "constant"},
    "n_samples": 300,
    "diagnostics": {"n_sims": 20, "n_posterior_samples": 40},
}
CPU = torch.device("cpu")


def tiny(**training) -> NPESettings:
    values = {**TINY, "training": {**TINY["training"], **training}}
    return NPESettings.from_config(values)


def write_sets(path, theory_name: str, n_sets: int, n_events: int, seed: int) -> None:
    """Prior-predictive sets in the EventSet layout of a training shard (also the hold-out file)."""
    theory = make_theory(theory_name)
    gen = make_generator(seed)
    eta = torch.rand((n_sets, 6), generator=gen, dtype=torch.float64)
    events, norm = simulate_sets(theory, eta, n_events, 0.02, gen)
    write_events(path, events, eta.numpy(), norm, theory.spec(), seed, 0.02)


def write_observed(path, theory_name: str = "proxy", n_events: int = N_EVENTS, seed: int = 7) -> None:
    theory = make_theory(theory_name)
    events, norm = simulate_sets(theory, torch.as_tensor(TRUTH, dtype=torch.float64)[None], n_events, 0.02, make_generator(seed))
    write_events(path, events[0], TRUTH, norm[0], theory.spec(), seed, 0.02)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("npe")
    shards = [root / "shard0.h5", root / "shard1.h5"]
    for i, path in enumerate(shards):
        write_sets(path, "proxy", 24, N_EVENTS, seed=100 + i)
    write_sets(root / "holdout.h5", "proxy", 24, N_EVENTS, seed=300)
    write_observed(root / "observed.h5")
    return {
        "root": root,
        "shards": [str(p) for p in shards],
        "observed": str(root / "observed.h5"),
        "holdout": str(root / "holdout.h5"),
    }


def shards(data):
    from pdfinfer.io import read_event_shards

    return read_event_shards(data["shards"], n_events=N_EVENTS)


@pytest.fixture(scope="module")
def trained(data):
    settings = tiny()
    estimator, spec, history, _ = train_npe(settings, shards(data), False, 3, CPU)
    path = data["root"] / "posterior.pt"
    save_model(path, estimator, settings, spec, history, seed=3, wall_time_s=1.0)
    return {"estimator": estimator, "spec": spec, "history": history, "path": path, "settings": settings}


# ----------------------------------------------------------------------------- settings
def test_schema_defaults_equal_the_settings_defaults(repo_root):
    """config.yaml, the schema defaults and NPESettings agree (each default stated once)."""
    schema = yaml.safe_load((repo_root / "config" / "config.schema.yaml").read_text())["properties"]["npe"]["properties"]

    def defaults(props):
        return {k: defaults(v["properties"]) if "properties" in v else v["default"] for k, v in props.items()}

    expected = {k: v for k, v in defaults(schema).items() if k not in NPESettings.WORKFLOW_KEYS}
    assert expected == NPESettings.defaults()
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())["npe"]
    assert NPESettings.from_config(config) == NPESettings()


@pytest.mark.parametrize(
    "values, message",
    [
        ({"flow": "realnvp"}, "npe.flow"),
        ({"flow": "zuko_nsf"}, "npe.logit_transform: true needs npe.flow nsf or maf"),
        ({"embedding": {"pooling": "max"}}, "npe.embedding.pooling"),
        ({"training": {"validation_fraction": 1.0}}, "npe.training.validation_fraction"),
        ({"training": {"learning_rat": 0.1}}, "learning_rat"),
    ],
)
def test_bad_settings_give_one_line_errors(values, message):
    with pytest.raises(ConfigError, match=message) as err:
        NPESettings.from_config(values)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- embedding
@pytest.mark.parametrize("pooling", ["mean", "mean_std"])
def test_embedding_is_permutation_invariant_and_sees_every_event(pooling):
    torch.manual_seed(0)
    settings = EmbeddingSettings(pooling=pooling, event_hidden=8, event_layers=2, event_features=4, hidden=8, output_dim=3)
    emb = SetEmbedding(settings, N_EVENTS, 2, 0, [False, True], [0.3, -1.2], [0.2, 0.5], [], []).eval()
    events = torch.rand(3, N_EVENTS, 2) * 0.8 + 0.1
    x = flatten_observation(events, None)
    shuffled = flatten_observation(events[:, torch.randperm(N_EVENTS)], None)
    torch.testing.assert_close(emb(x), emb(shuffled), atol=1e-5, rtol=1e-5)
    changed = events.clone()
    changed[:, -1] += 0.05  # moving one event must move the summary
    assert not torch.allclose(emb(x), emb(flatten_observation(changed, None)))


def test_post_pooling_last_layer_is_the_same_function_as_per_event():
    """Mean pooling applies phi's last linear layer after pooling: identical to phi per event, then the mean."""
    torch.manual_seed(1)
    settings = EmbeddingSettings(pooling="mean", event_hidden=8, event_layers=2, event_features=5)
    emb = SetEmbedding(settings, N_EVENTS, 2, 0, [False, False], [0.0, 0.0], [1.0, 1.0], [], [])
    events = torch.randn(4, N_EVENTS, 2)
    torch.testing.assert_close(emb.pool(events), emb.phi(events).mean(1), atol=1e-6, rtol=1e-5)
    linear, ours = torch.nn.Linear(2, 7), EventLinear(2, 7)
    with torch.no_grad():
        linear.weight.copy_(ours.weight.t()), linear.bias.copy_(ours.bias)
    torch.testing.assert_close(ours(events), linear(events))


def test_embedding_refuses_a_wrong_width():
    emb = SetEmbedding(EmbeddingSettings(), N_EVENTS, 2, 0, [False, True], [0.0, 0.0], [1.0, 1.0], [], [])
    with pytest.raises(DataError, match="32 events x 2 features"):
        emb(torch.ones(2, N_EVENTS * 2 + 1))


# ----------------------------------------------------------------------------- model file
def test_saved_model_reloads_with_the_same_log_prob(trained, data):
    posterior, _, payload = load_model(trained["path"])
    observed = read_events(data["observed"], batched=False)
    x = observation_tensor(observed, payload["data"])
    theta = torch.rand(5, 6)
    original = make_posterior(trained["estimator"])
    torch.testing.assert_close(
        posterior.log_prob(theta, x=x, norm_posterior=False), original.log_prob(theta, x=x, norm_posterior=False)
    )
    assert payload["wall_time_s"] == 1.0 and payload["settings"] == trained["settings"].as_dict()


@pytest.mark.parametrize(
    "theory_name, n_events, message", [("dis", N_EVENTS, "theory"), ("proxy", N_EVENTS + 1, "sets of 32 events")]
)
def test_model_of_another_theory_or_size_is_refused_naming_the_file(trained, tmp_path, theory_name, n_events, message):
    path = tmp_path / "other.h5"
    write_observed(path, theory_name, n_events)
    with pytest.raises(DataError, match=message) as err:
        check_fits(trained["path"], trained["spec"], read_events(path, batched=False))
    assert str(trained["path"]) in str(err.value) and "\n" not in str(err.value)


def test_model_of_another_feature_width_is_refused(trained, data):
    observed = read_events(data["observed"], batched=False)
    observed.events = np.concatenate([observed.events, observed.events[:, :1]], axis=1)  # a 3-feature set
    observed.theory = trained["spec"]["theory"]
    with pytest.raises(DataError, match="2 features per event") as err:
        check_fits(trained["path"], trained["spec"], observed)
    assert str(trained["path"]) in str(err.value)


def test_corrupt_model_file_gives_one_line_error(tmp_path):
    path = tmp_path / "posterior.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="not a readable model file") as err:
        load_model(path)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- sampling
def test_permuting_observed_events_leaves_the_draws_unchanged(trained, data):
    posterior = make_posterior(trained["estimator"])
    observed = read_events(data["observed"], batched=False)
    x = observation_tensor(observed, trained["spec"])
    observed.events = observed.events[np.random.default_rng(0).permutation(N_EVENTS)]
    x_perm = observation_tensor(observed, trained["spec"])
    assert not torch.equal(x, x_perm)
    a, b = draw(posterior, x, 200, seed=11), draw(posterior, x_perm, 200, seed=11)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, draw(posterior, x, 200, seed=12))


# ----------------------------------------------------------------------------- checkpoints
def _state(estimator):
    return {k: v.clone() for k, v in estimator.state_dict().items()}


def _same(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_resumed_training_matches_an_uninterrupted_run(data, tmp_path):
    ckpt = str(tmp_path / "ckpt.pt")
    train_npe(tiny(max_epochs=1), shards(data), False, 5, CPU, ckpt)  # "killed" after epoch 1
    resumed, _, history, checkpoint = train_npe(tiny(max_epochs=2), shards(data), False, 5, CPU, ckpt)
    straight, _, _, _ = train_npe(tiny(max_epochs=2), shards(data), False, 5, CPU)
    assert history["epochs"] == 2 and _same(_state(resumed), _state(straight))
    checkpoint.discard()
    assert not (tmp_path / "ckpt.pt").exists()


def test_lowered_max_epochs_does_not_return_the_longer_run(data, tmp_path, caplog):
    ckpt = str(tmp_path / "ckpt.pt")
    train_npe(tiny(max_epochs=2), shards(data), False, 5, CPU, ckpt)
    with caplog.at_level(logging.WARNING):
        short, _, history, _ = train_npe(tiny(max_epochs=1), shards(data), False, 5, CPU, ckpt)
    straight, _, _, _ = train_npe(tiny(max_epochs=1), shards(data), False, 5, CPU)
    assert history["epochs"] == 1 and _same(_state(short), _state(straight))
    assert any("exceeds max_epochs" in r.getMessage() for r in caplog.records)


def test_corrupt_checkpoint_warns_once_and_starts_afresh(data, tmp_path, caplog):
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING):
        fresh, _, _, _ = train_npe(tiny(max_epochs=1), shards(data), False, 5, CPU, str(ckpt))
    straight, _, _, _ = train_npe(tiny(max_epochs=1), shards(data), False, 5, CPU)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "unreadable checkpoint" in warnings[0] and "\n" not in warnings[0]
    assert _same(_state(fresh), _state(straight))


@pytest.mark.parametrize("change", ["settings", "seed", "data"])
def test_changed_settings_seed_or_data_start_afresh(data, tmp_path, caplog, change):
    ckpt = str(tmp_path / "ckpt.pt")
    train_npe(tiny(max_epochs=1), shards(data), False, 5, CPU, ckpt)
    settings, seed, events = tiny(max_epochs=1), 5, shards(data)
    if change == "settings":
        settings = tiny(max_epochs=1, learning_rate=0.003)
    elif change == "seed":
        seed = 6
    else:
        events.events = events.events[:, ::-1].copy()  # other content, same shapes
    with caplog.at_level(logging.WARNING):
        resumed, _, _, _ = train_npe(settings, events, False, seed, CPU, ckpt)
    assert any("other settings, data or code" in r.getMessage() for r in caplog.records)
    straight, _, _, _ = train_npe(settings, events, False, seed, CPU)
    assert _same(_state(resumed), _state(straight))


# ----------------------------------------------------------------------------- command lines
def test_train_sample_diagnostics_end_to_end(data, tmp_path):
    import json

    settings = json.dumps(TINY)
    model, samples, h5, js = (str(tmp_path / n) for n in ("posterior.pt", "samples.h5", "diag.h5", "diag.json"))
    common = ["--threads", "1", "--device", "cpu", "--normalization", "off", "--settings", settings]
    assert (
        npe_train.main(
            [
                "--shards",
                *data["shards"],
                "--n-obs",
                str(N_EVENTS),
                "--out",
                model,
                "--checkpoint",
                str(tmp_path / "c.pt"),
                *common,
            ]
        )
        == 0
    )
    assert not (tmp_path / "c.pt").exists()  # discarded once the model is written
    assert npe_sample.main(["--model", model, "--observed", data["observed"], "--out", samples, *common]) == 0
    result = read_samples(samples)
    assert result.samples.shape == (300, 6) and result.method == "npe"
    assert result.attrs["wall_time_s"] >= result.attrs["training_s"] > 0
    assert npe_diagnostics.main(["--model", model, "--holdout", data["holdout"], "--out-h5", h5, "--out-json", js, *common]) == 0
    arrays, attrs = read_h5(h5, required=("sbc_ranks", "coverage_empirical", "tarp_ecp"))
    assert arrays["sbc_ranks"].shape == (20, 6) and attrs["n_sims"] == 20 and attrs["coverage_statistic"] == "log_density"


def test_diagnostics_refuses_a_too_small_holdout_file(trained, data, tmp_path, capsys):
    settings = '{"diagnostics": {"n_sims": 25}}'
    status = npe_diagnostics.main(
        [
            "--model",
            str(trained["path"]),
            "--holdout",
            data["holdout"],
            "--normalization",
            "off",
            "--settings",
            settings,
            "--out-h5",
            str(tmp_path / "d.h5"),
            "--out-json",
            str(tmp_path / "d.json"),
            "--device",
            "cpu",
        ]
    )
    assert status == 1 and "24 held-out sets, but npe.diagnostics.n_sims = 25" in capsys.readouterr().err


def test_calibration_sampler_draws_each_set_in_order_inside_the_box(trained, data):
    """npe_sampler's draw: (m, n, 6) inside the prior box, row j = set j's own draws in sequence."""
    posterior = make_posterior(trained["estimator"], CPU)
    holdout = read_events(data["holdout"], batched=True)
    xs = observation_tensor(holdout, trained["spec"])[:3]
    draw_sets, _ = npe_diagnostics.npe_sampler(posterior)
    torch.manual_seed(11)
    draws = draw_sets(xs, 50)
    assert draws.shape == (3, 50, 6) and bool(((draws >= 0) & (draws <= 1)).all())
    torch.manual_seed(11)
    alone = [posterior.sample((50,), x=x[None], show_progress_bars=False) for x in xs]
    torch.testing.assert_close(draws, torch.stack(alone))


def test_fresh_simulations_train_on_new_sets_and_validate_on_the_shards(data):
    """With fresh_simulations, every epoch draws new sets (seeded per epoch) and all shard rows validate."""
    from pdfinfer.npe.data import FreshSimulations

    _, spec, history, _ = train_npe(tiny(max_epochs=1, fresh_simulations=16), shards(data), False, 5, CPU)
    assert spec["n_train"] == 16 and spec["n_validation"] == 48 and history["epochs"] == 1
    fresh = FreshSimulations(spec, 4, seed=5, device=CPU)
    (t0, x0), (t0b, x0b), (t1, _) = fresh(0), fresh(0), fresh(1)
    assert torch.equal(t0, t0b) and torch.equal(x0, x0b) and not torch.equal(t0, t1)
    assert x0.shape == (4, N_EVENTS * 2)


FRESH_SPEC = {"theory": {"name": "proxy"}, "n_events": 8, "normalization": True, "norm_rel_unc": 0.02}


def whole_epoch_reference(spec, n_sets, seed, epoch, chunk):
    """The sets of one epoch as the pre-streaming implementation drew them: every eta, then chunk by chunk."""
    from pdfinfer.constraints.settings import ConstraintSettings
    from pdfinfer.constraints.sumrules import sample_prior
    from pdfinfer.runtime import derive_seed

    theory, gen = make_theory(spec["theory"]), make_generator(derive_seed(seed, "npe", "fresh", epoch), CPU)
    eta = sample_prior(n_sets, gen, ConstraintSettings.from_config(None), device=CPU)
    xs = [
        flatten_observation(
            theory.sample(p, spec["n_events"], generator=gen), theory.sample_norm(p, spec["norm_rel_unc"], generator=gen)
        )
        for p in eta.split(chunk)
    ]
    return eta.float(), torch.cat(xs)


def test_streamed_fresh_batches_are_the_seeded_sets_of_the_epoch_in_draw_order():
    """batches(epoch) streams exactly the sets of the whole-epoch draw (same seed stream, same chunks), reproducibly;
    a new instance (a resumed run) gives epoch k's sets without having drawn epochs 0..k-1."""
    from pdfinfer.npe.data import FreshSimulations

    def streamed(fresh, epoch, batch_size):
        theta, x = zip(*fresh.batches(epoch, batch_size))
        full, rest = divmod(fresh.n_sets, batch_size)
        assert [len(t) for t in theta] == [batch_size] * full + ([rest] if rest else [])
        return torch.cat(theta), torch.cat(x)

    fresh_a = FreshSimulations(FRESH_SPEC, 22, seed=5, device=CPU, chunk=4)
    for epoch in (0, 1):
        ref_theta, ref_x = whole_epoch_reference(FRESH_SPEC, 22, 5, epoch, chunk=4)
        for batch_size in (3, 4, 8, 30):  # across, at and inside the chunk boundaries
            theta, x = streamed(fresh_a, epoch, batch_size)
            assert torch.equal(theta, ref_theta) and torch.equal(x, ref_x)
    resumed = FreshSimulations(FRESH_SPEC, 22, seed=5, device=CPU, chunk=4)  # a run resumed at epoch 1
    assert torch.equal(streamed(resumed, 1, 3)[1], streamed(fresh_a, 1, 3)[1])
    assert not torch.equal(streamed(fresh_a, 0, 3)[0], streamed(fresh_a, 1, 3)[0])
    assert not torch.equal(
        streamed(FreshSimulations(FRESH_SPEC, 22, seed=6, device=CPU, chunk=4), 0, 3)[0], streamed(fresh_a, 0, 3)[0]
    )


def test_fresh_batches_simulate_at_most_one_chunk_at_a_time(monkeypatch):
    """Streaming: each simulator call holds at most `chunk` sets, and a batch is yielded before the next chunk is drawn."""
    from pdfinfer.npe.data import FreshSimulations

    fresh = FreshSimulations(FRESH_SPEC, 40, seed=1, device=CPU, chunk=8)
    sizes = []
    original = fresh.theory.sample
    monkeypatch.setattr(fresh.theory, "sample", lambda eta, *a, **k: sizes.append(len(eta)) or original(eta, *a, **k))
    batches = fresh.batches(0, 4)
    next(batches)
    assert sizes == [8]  # one chunk simulated for the first batch, not the epoch
    rest = list(batches)
    assert sizes == [8] * 5 and len(rest) == 9


def test_training_streams_fresh_sets_and_caps_the_validation_rows(data, monkeypatch):
    """train_npe never gathers a whole epoch of fresh sets, simulates chunk by chunk, and validates on at most
    max_validation_sets shard rows, the first of the seeded permutation; the shards on disk give the same model."""
    from pdfinfer.io import EventShards, open_event_shards
    from pdfinfer.npe import data as npe_data
    from pdfinfer.npe.data import FreshSimulations, split_indices

    def refuse(self, epoch):
        raise AssertionError("a whole epoch of fresh sets was gathered")

    sizes = []
    simulate = FreshSimulations.simulate
    monkeypatch.setattr(FreshSimulations, "__call__", refuse)
    monkeypatch.setattr(FreshSimulations, "simulate", lambda self, eta, gen: sizes.append(len(eta)) or simulate(self, eta, gen))
    settings = tiny(max_epochs=2, fresh_simulations=20, fresh_chunk_sets=8, max_validation_sets=10)
    estimator, spec, history, _ = train_npe(settings, shards(data), False, 5, CPU)
    assert spec["n_train"] == 20 and spec["n_validation"] == 10 and spec["n_simulations"] == 48 and history["epochs"] == 2
    assert max(sizes) <= 8 and sum(sizes) == 8 + 2 * 20  # the first chunk sizes the flow, then two epochs
    assert torch.equal(split_indices(48, 0.1, 5, all_validation=True, max_validation=10)[1], npe_data.row_permutation(48, 5)[:10])
    read, read_rows = [], EventShards.rows
    monkeypatch.setattr(EventShards, "rows", lambda self, r: read.append(list(r)) or read_rows(self, r))
    from_disk, spec_disk, _, _ = train_npe(settings, open_event_shards(data["shards"], n_events=N_EVENTS), False, 5, CPU)
    assert spec_disk == spec and _same(_state(from_disk), _state(estimator))
    assert read == [sorted(npe_data.row_permutation(48, 5)[:48].tolist())]  # validation + standardization rows (all 48 here)


def test_fixed_shards_cap_the_validation_rows_and_train_on_the_rest():
    from pdfinfer.npe.data import split_indices

    train, val = split_indices(1000, 0.1, 3, max_validation=40)
    assert len(val) == 40 and len(train) == 960 and set(train.tolist()) | set(val.tolist()) == set(range(1000))
    assert torch.equal(split_indices(1000, 0.1, 3)[1][:40], val)
    assert len(split_indices(1000, 0.01, 3, max_validation=40)[1]) == 10  # the fraction when under the cap


# ----------------------------------------------------------------------------- moments, logit flow, schedule, stopping
def test_moment_embedding_is_invariant_and_matches_numpy():
    """statistics = moments: the pooled vector is the closed-form moments, standardized, in any event order."""
    from pdfinfer.npe.embedding import moment_width

    gen = torch.Generator().manual_seed(0)
    events = 0.1 + 0.9 * torch.rand(3, N_EVENTS, 2, generator=gen)
    mean, std = [0.4, 0.5], [0.2, 0.25]
    m_mean, m_std = list(np.linspace(-1, 1, 12)), list(np.linspace(0.5, 2, 12))
    emb = SetEmbedding(
        EmbeddingSettings(statistics="moments", hidden=8, output_dim=3),
        N_EVENTS,
        2,
        0,
        [False, False],
        mean,
        std,
        [],
        [],
        x_features=[True, True],
        x_hi=1.0,
        moment_mean=m_mean,
        moment_std=m_std,
    ).eval()
    assert moment_width(2, [True, True]) == 12
    e = events.double().numpy()
    t = (e - np.array(mean)) / np.array(std)
    expected = np.concatenate(
        [(t**k).mean(1) for k in (1, 2, 3, 4)]
        + [np.stack([np.log(e[..., j]).mean(1), np.log(1 - e[..., j]).mean(1)], 1) for j in (0, 1)],
        1,
    )
    got = emb.statistics_of(events).double().numpy()
    np.testing.assert_allclose(got, (expected - m_mean) / m_std, rtol=1e-4, atol=1e-5)  # float32 sums of 32 terms
    perm = torch.randperm(N_EVENTS, generator=gen)
    x, xp = flatten_observation(events, None), flatten_observation(events[:, perm], None)
    torch.testing.assert_close(emb(x), emb(xp), rtol=1e-5, atol=1e-6)


def test_box_logit_is_a_bijection_with_the_jacobian_log_determinant():
    from pdfinfer.npe.model import BoxLogit

    eta = torch.rand(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u, logdet = BoxLogit().forward(eta)
    back, inv_logdet = BoxLogit().inverse(u)
    torch.testing.assert_close(back, eta)
    torch.testing.assert_close(logdet, -inv_logdet)
    jac = torch.func.vmap(torch.func.jacrev(lambda e: BoxLogit().forward(e[None])[0][0]))(eta)
    torch.testing.assert_close(logdet, torch.linalg.slogdet(jac).logabsdet)


def test_logit_flow_puts_all_draws_inside_the_box_and_reloads(data, tmp_path):
    settings = NPESettings.from_config({**TINY, "flow": "maf", "logit_transform": True})
    estimator, spec, history, _ = train_npe(settings, shards(data), False, 3, CPU)
    path = tmp_path / "logit.pt"
    save_model(path, estimator, settings, spec, history, seed=3, wall_time_s=1.0)
    posterior, reloaded, _ = load_model(path)
    x = observation_tensor(read_events(data["observed"], batched=False), spec)
    theta = torch.rand(7, 6, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(reloaded.eval().log_prob(theta[None], x), estimator.eval().log_prob(theta[None], x))
    draws = draw(posterior, x, 200, 0)
    assert bool(((draws > 0) & (draws < 1)).all())


def test_cosine_schedule_closed_form():
    from pdfinfer.npe.loop import learning_rate

    config = NPESettings.from_config({"training": {"learning_rate": 0.01, "max_epochs": 4, "schedule": "cosine"}}).training
    assert [learning_rate(config, k) for k in range(4)] == pytest.approx(
        [0.01, 0.005 * (1 + 2**-0.5), 0.005, 0.005 * (1 - 2**-0.5)]
    )
    assert learning_rate(tiny().training, 3) == tiny().training.learning_rate


def test_early_stopping_keeps_the_best_validation_epoch(tmp_path):
    """Toy: loss (w - theta)^2 trained towards 1, validated at 0, so every epoch after the first is worse on validation;
    training stops stop_after_epochs + 1 epochs in and returns w of epoch 0."""
    from pdfinfer.checkpoint import Checkpoint
    from pdfinfer.npe.loop import fit

    class Toy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([0.2]))

        def loss(self, theta, x):
            return (self.w - theta[:, 0]) ** 2

    toy, after_first = Toy(), []
    train = (torch.ones(32, 6), torch.zeros(32, 1))

    def epoch_data(epoch):
        if epoch == 1:
            after_first.append(toy.w.detach().clone())  # the weights after epoch 0
        return train

    config = NPESettings.from_config(
        {"training": {"batch_size": 8, "learning_rate": 0.05, "max_epochs": 30, "stop_after_epochs": 3, "schedule": "constant"}}
    ).training
    history = fit(toy, epoch_data, (torch.zeros(8, 6), torch.zeros(8, 1)), config, 0, Checkpoint(None, "toy"))
    assert history["best_epoch"] == 0 and history["epochs"] == 4 and history["stopped_early"]
    assert np.all(np.diff(history["val_loss"]) > 0)
    torch.testing.assert_close(toy.w.detach(), after_first[0])
