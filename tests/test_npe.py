"""NPE baseline (pdfinfer.npe): embedding invariance, save/reload, sampling, diagnostics, bad input.

A tiny prior-predictive training set (48 sets x 32 events, proxy theory) is simulated once per
module and a tiny model trained on it for 2 epochs; the tests check properties that hold for any
trained weights (exact invariances, reload identity, determinism, shapes, error messages), not
the quality of the fit (that is measured on the default config, see benchmarks/bench_npe.py).
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from pdfinfer.errors import ConfigError, DataError
from pdfinfer.io import read_h5, read_json, read_samples, write_events
from pdfinfer.npe import diagnostics as npe_diagnostics
from pdfinfer.npe import sample as npe_sample
from pdfinfer.npe import train as npe_train
from pdfinfer.npe.diagnostics import LEVELS, coverage_from_ranks, marginal_coverage
from pdfinfer.npe.embedding import SetEmbedding, flatten_observation
from pdfinfer.npe.model import build_estimator, load_model, make_posterior, save_model
from pdfinfer.npe.train import TrainConfig, train_from_shards
from pdfinfer.params import TRUTH
from pdfinfer.runtime import make_generator
from pdfinfer.simulate import simulate_sets
from pdfinfer.theory import make_theory

N_EVENTS = 32
TINY_EMBEDDING = {"event_hidden": 8, "event_layers": 1, "event_features": 4, "hidden": 16, "layers": 2, "output_dim": 8}
TINY_FLOW = {"model": "nsf", "hidden_features": 16, "num_transforms": 2, "num_bins": 4}
TINY_ARGS = [
    "--event-hidden", "8", "--event-layers", "1", "--event-features", "4", "--embed-hidden", "16", "--embed-dim", "8",
    "--hidden-features", "16", "--num-transforms", "2", "--num-bins", "4", "--batch-size", "16", "--threads", "1", "--device", "cpu",
]


def _write_shard(path, theory_name: str, n_sims: int, n_events: int, seed: int) -> None:
    theory = make_theory(theory_name)
    gen = make_generator(seed)
    eta = torch.rand((n_sims, 6), generator=gen, dtype=torch.float64)
    events, norm = simulate_sets(theory, eta, n_events, 0.02, gen)
    write_events(path, events, eta.numpy(), norm, theory.spec(), seed, 0.02)


def _write_observed(path, n_events: int, seed: int = 7) -> None:
    theory = make_theory("proxy")
    gen = make_generator(seed)
    eta = torch.as_tensor(TRUTH, dtype=torch.float64)[None]
    events, norm = simulate_sets(theory, eta, n_events, 0.02, gen)
    write_events(path, events[0], TRUTH, norm[0], theory.spec(), seed, 0.02)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("npe")
    shards = [root / "shard0.h5", root / "shard1.h5"]
    for i, path in enumerate(shards):
        _write_shard(path, "proxy", 24, N_EVENTS, seed=100 + i)
    _write_observed(root / "observed.h5", N_EVENTS)
    return {"root": root, "shards": [str(p) for p in shards], "observed": str(root / "observed.h5")}


@pytest.fixture(scope="module")
def trained(data):
    torch.set_num_threads(1)
    config = TrainConfig(batch_size=16, max_epochs=2, stop_after_epochs=5)
    estimator, settings, history = train_from_shards(data["shards"], N_EVENTS, False, TINY_EMBEDDING, TINY_FLOW, config, 3, torch.device("cpu"))
    path = data["root"] / "posterior.pt"
    save_model(path, estimator, settings, history)
    return {"estimator": estimator, "settings": settings, "history": history, "path": path}


# ----------------------------------------------------------------------------- embedding
def _embedding(n_norm: int = 0) -> SetEmbedding:
    torch.manual_seed(0)
    return SetEmbedding(N_EVENTS, 2, n_norm, [False, True], [0.3, -1.2], [0.2, 0.5], [1.0] * n_norm, [0.1] * n_norm,
                        event_hidden=8, event_layers=2, event_features=4, hidden=16, layers=2, output_dim=8).eval()


def test_embedding_is_permutation_invariant_and_sees_every_event():
    emb = _embedding()
    events = torch.rand(3, N_EVENTS, 2) * 0.9 + 0.1
    perm = torch.randperm(N_EVENTS, generator=torch.Generator().manual_seed(1))
    out = emb(flatten_observation(events, None))
    assert out.shape == (3, 8)
    torch.testing.assert_close(emb(flatten_observation(events[:, perm], None)), out, rtol=0, atol=1e-6)
    moved = events.clone()
    moved[:, 5, 0] = 0.95  # change one event: the summary must change
    assert not torch.allclose(emb(flatten_observation(moved, None)), out, atol=1e-6)


def test_embedding_appends_standardized_log_normalization_and_dedups_repeated_rows():
    emb = _embedding(n_norm=2)
    events = torch.rand(2, N_EVENTS, 2) * 0.9 + 0.1
    norm = torch.tensor([[3.0, 2.0], [2.5, 1.5]])
    out = emb(flatten_observation(events, norm))
    assert out.shape == (2, 8 + 2)
    torch.testing.assert_close(out[:, -2:], (torch.log(norm) - 1.0) / 0.1)
    x = flatten_observation(events, norm)
    repeated = x[[0, 1, 0, 0, 1]]
    torch.testing.assert_close(emb(repeated), out[[0, 1, 0, 0, 1]], rtol=0, atol=1e-6)
    with pytest.raises(DataError, match="32 events x 2 features"):
        emb(x[:, :-3])


# ----------------------------------------------------------------------------- save / reload / sample
def test_saved_posterior_reloads_on_cpu_with_the_same_log_prob(trained, data):
    payload = torch.load(trained["path"], map_location="cpu", weights_only=True)  # plain tensors and JSON-able values only
    assert all(t.device.type == "cpu" for t in payload["state_dict"].values())
    assert set(payload["versions"]) == {"sbi", "torch", "pdfinfer"}
    json.dumps(payload["settings"])
    posterior, _, _ = load_model(trained["path"], "cpu")
    original = make_posterior(trained["estimator"], "cpu")
    x = flatten_observation(_observed_events(data)[None], None)
    theta = torch.rand(50, 6, generator=torch.Generator().manual_seed(2))
    lp_saved = posterior.log_prob(theta, x=x, norm_posterior=False)
    lp_orig = original.log_prob(theta, x=x, norm_posterior=False)
    assert torch.isfinite(lp_saved).all()
    torch.testing.assert_close(lp_saved, lp_orig, rtol=0, atol=1e-5)
    # the fitted standardization travels with the model (settings and buffers agree)
    emb = posterior.posterior_estimator.embedding_net
    np.testing.assert_allclose(emb.feature_mean.numpy(), trained["settings"]["feature_mean"], rtol=1e-6)


def _observed_events(data) -> np.ndarray:
    with h5py.File(data["observed"], "r") as h5:
        return h5["events"][()]


def test_permuting_observed_events_leaves_the_draws_unchanged(trained, data):
    posterior, _, _ = load_model(trained["path"], "cpu")
    events = _observed_events(data)
    perm = np.random.default_rng(0).permutation(N_EVENTS)
    a = npe_sample.draw(posterior, flatten_observation(events[None], None), 500, seed=11)
    b = npe_sample.draw(posterior, flatten_observation(events[perm][None], None), 500, seed=11)
    c = npe_sample.draw(posterior, flatten_observation(events[None], None), 500, seed=12)
    assert a.shape == (500, 6) and bool(((a >= 0) & (a <= 1)).all())
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    assert not torch.allclose(a, c)  # a different seed gives different draws


def test_training_resumes_from_its_checkpoint_and_matches_an_uninterrupted_run(data, tmp_path):
    torch.set_num_threads(1)
    args = (data["shards"], N_EVENTS, False, TINY_EMBEDDING, TINY_FLOW)
    ck = tmp_path / "ck.pt"
    _, _, straight = train_from_shards(*args, TrainConfig(batch_size=16, max_epochs=3), 5, torch.device("cpu"))
    _, _, first = train_from_shards(*args, TrainConfig(batch_size=16, max_epochs=2), 5, torch.device("cpu"), str(ck))
    assert ck.exists() and first["epochs"] == 2
    _, _, resumed = train_from_shards(*args, TrainConfig(batch_size=16, max_epochs=3), 5, torch.device("cpu"), str(ck))
    assert resumed["epochs"] == 3
    assert resumed["epoch_seconds"][:2] == first["epoch_seconds"]  # the first two epochs came from the checkpoint
    np.testing.assert_allclose(resumed["train_loss"], straight["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed["val_loss"], straight["val_loss"], rtol=1e-5)


# ----------------------------------------------------------------------------- command line, end to end
@pytest.mark.slow
def test_train_sample_diagnostics_end_to_end(data, tmp_path, capsys):
    model, samples = tmp_path / "posterior.pt", tmp_path / "samples.h5"
    diag_h5, diag_json = tmp_path / "diagnostics.h5", tmp_path / "diagnostics.json"
    assert npe_train.main(["--shards", *data["shards"], "--n-obs", str(N_EVENTS), "--normalization", "on", "--max-epochs", "2",
                           "--checkpoint", str(tmp_path / "ck.pt"), "--out", str(model), *TINY_ARGS]) == 0
    common = ["--threads", "1", "--device", "cpu"]
    assert npe_sample.main(["--model", str(model), "--observed", data["observed"], "--normalization", "on", "--n-samples", "300",
                            "--out", str(samples), *common]) == 0
    result = read_samples(samples)
    assert result.method == "npe" and result.samples.shape == (300, 6)
    assert result.settings["normalization"] is True and result.settings["n_norm"] == 2
    assert len(result.extras["history_train_loss"]) == len(result.extras["history_val_loss"]) == 2
    assert result.extras["log_prob"].shape == (300,)

    assert npe_diagnostics.main(["--model", str(model), "--normalization", "on", "--n-sims", "12", "--n-posterior-samples", "40",
                                 "--out-h5", str(diag_h5), "--out-json", str(diag_json), *common]) == 0
    arrays, attrs = read_h5(diag_h5, kind="npe_diagnostics", required=("sbc_ranks", "sbc_ks_pvalues", "coverage_levels", "coverage_empirical",
                                                                         "marginal_coverage", "tarp_alpha", "tarp_ecp", "theta"))
    assert arrays["sbc_ranks"].shape == (12, 6) and arrays["sbc_ranks"].min() >= 0 and arrays["sbc_ranks"].max() <= 40
    assert arrays["sbc_ks_pvalues"].shape == (6,) and np.all((arrays["sbc_ks_pvalues"] >= 0) & (arrays["sbc_ks_pvalues"] <= 1))
    assert np.all(np.diff(arrays["coverage_empirical"]) >= 0) and arrays["coverage_empirical"][-1] == 1.0
    assert arrays["marginal_coverage"].shape == (len(LEVELS), 6)
    assert arrays["tarp_alpha"].shape == arrays["tarp_ecp"].shape and arrays["tarp_ecp"][-1] == pytest.approx(1.0)
    assert attrs["n_sims"] == 12 and attrs["n_posterior_samples"] == 40 and "tarp_atc" in attrs
    js = read_json(diag_json)
    assert js["coverage_levels"] == pytest.approx(arrays["coverage_levels"].tolist())
    assert js["coverage_max_deviation"] == pytest.approx(attrs["coverage_max_deviation"])


# ----------------------------------------------------------------------------- bad input
def test_shard_with_wrong_event_count_is_refused(data, tmp_path, capsys):
    bad = tmp_path / "short.h5"
    _write_shard(bad, "proxy", 4, N_EVENTS - 8, seed=5)
    with pytest.raises(DataError, match=rf"short\.h5: expected {N_EVENTS} events per set, got {N_EVENTS - 8}"):
        train_from_shards([data["shards"][0], str(bad)], N_EVENTS, False, TINY_EMBEDDING, TINY_FLOW, TrainConfig(), 0, torch.device("cpu"))
    status = npe_train.main(["--shards", str(bad), "--n-obs", str(N_EVENTS), "--normalization", "off", "--out", str(tmp_path / "m.pt"), *TINY_ARGS])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and err[-1].startswith("error: pdfinfer.npe.train:") and "events per set" in err[-1]


def test_shard_with_wrong_feature_width_is_refused(data, tmp_path):
    wide = tmp_path / "wide.h5"
    _write_shard(wide, "proxy", 4, N_EVENTS, seed=6)
    with h5py.File(wide, "r+") as h5:  # a third feature column the proxy theory does not have
        events = h5["events"][()]
        del h5["events"]
        h5["events"] = np.concatenate([events, events[..., :1]], axis=-1)
    with pytest.raises(DataError, match=r"wide\.h5: 'events' must have shape \(N, 2\) or \(B, N, 2\) for theory 'proxy', got \(4, 32, 3\)"):
        train_from_shards([data["shards"][0], str(wide)], N_EVENTS, False, TINY_EMBEDDING, TINY_FLOW, TrainConfig(), 0, torch.device("cpu"))
    dis = tmp_path / "dis.h5"
    _write_shard(dis, "dis", 4, N_EVENTS, seed=6)  # 4 features per event from another theory
    with pytest.raises(DataError, match=r"dis\.h5: theory .*'dis'.* differs from .*shard0\.h5"):
        train_from_shards([data["shards"][0], str(dis)], N_EVENTS, False, TINY_EMBEDDING, TINY_FLOW, TrainConfig(), 0, torch.device("cpu"))


def test_observed_set_that_does_not_fit_the_model_is_refused(trained, tmp_path, capsys):
    other = tmp_path / "observed64.h5"
    _write_observed(other, 2 * N_EVENTS)
    status = npe_sample.main(["--model", str(trained["path"]), "--observed", str(other), "--normalization", "off", "--out", str(tmp_path / "s.h5"), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1 and f"64 events x 2 features, but the NPE model was trained on {N_EVENTS} x 2" in err
    with pytest.raises(ConfigError, match="trained with the normalization observable off"):
        npe_sample.check_normalization_flag(trained["settings"], True, "posterior.pt")


def test_corrupt_model_file_gives_one_line_error(tmp_path):
    bad = tmp_path / "posterior.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="posterior.pt: not a readable NPE model"):
        load_model(bad)


# ----------------------------------------------------------------------------- coverage arithmetic
def test_coverage_from_ranks_exact_values():
    L = 20
    ranks = np.arange(L + 1)  # every rank once: a perfectly calibrated posterior
    cov = coverage_from_ranks(ranks, L, np.array([0.0, 0.5, 0.95, 1.0]))
    # truth inside the alpha-HPD region iff r >= (1 - alpha) L
    np.testing.assert_allclose(cov, [1 / 21, 11 / 21, 20 / 21, 1.0])
    # an overconfident posterior (truth always in the tails: r = 0) covers nothing below alpha = 1
    assert coverage_from_ranks(np.zeros(50), L, np.array([0.5, 0.99, 1.0])).tolist() == [0.0, 0.0, 1.0]
    central = marginal_coverage(np.tile(np.arange(L + 1)[:, None], (1, 6)), L, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(central[:, 0], [1 / 21, 11 / 21, 1.0])


def test_build_estimator_refuses_unknown_flow(trained):
    with pytest.raises(ConfigError, match="flow model 'made'"):
        build_estimator({**trained["settings"], "flow": {**TINY_FLOW, "model": "made"}})
