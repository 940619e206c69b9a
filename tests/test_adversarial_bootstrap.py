"""Bootstrap ensemble of adversarial runs: resampling, reproducibility per seed, pooling of estimates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pdfinfer.adversarial import bootstrap, pool
from pdfinfer.adversarial.observation import Observation
from pdfinfer.adversarial.settings import AdversarialBootstrapSettings
from pdfinfer.io import read_samples, write_events
from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory

TINY = {
    "steps": 4,
    "batch_params": 2,
    "batch_events": 32,
    "noise_dim": 2,
    "generator_width": 8,
    "generator_depth": 1,
    "discriminator_width": 8,
    "discriminator_depth": 1,
    "mmd_events": 16,
    "energy_events": 64,
    "log_every": 2,
    "n_samples": 30,
}


@pytest.fixture(scope="module")
def observed():
    theory = make_theory("proxy")
    g = torch.Generator().manual_seed(8)
    eta = torch.as_tensor(TRUTH)[None]
    return theory, theory.sample(eta, 200, generator=g)[0].numpy(), theory.sample_norm(eta, 0.02, generator=g)[0].numpy()


def test_resample_is_reproducible_per_seed_and_differs_between_seeds(observed):
    _, events, norm = observed
    obs, settings = Observation(events, norm, 0.02), AdversarialBootstrapSettings()
    a, b, c = bootstrap.resample(obs, settings, 1), bootstrap.resample(obs, settings, 1), bootstrap.resample(obs, settings, 2)
    np.testing.assert_array_equal(a.events, b.events)
    np.testing.assert_array_equal(a.norm, b.norm)
    assert not np.array_equal(a.events, c.events) and not np.array_equal(a.norm, c.norm)
    # rows come from the observed set, with replacement: about 1 - 1/e = 63 % distinct (n = 200: sd ~ 2.4 %)
    assert set(map(tuple, a.events)) <= set(map(tuple, events))
    assert 0.55 < len(np.unique(a.events, axis=0)) / len(events) < 0.72


def test_normalization_redrawn_within_its_error(observed):
    """z* ~ N(z, (r z)^2): over 4000 seeds the mean is z within 4 standard errors (r z / sqrt(4000))
    and the sd is r z within 5 % (the sd of a sample sd is sd / sqrt(2 n) = 1.1 %)."""
    _, events, norm = observed
    obs = Observation(events[:5], norm, 0.02)
    settings = AdversarialBootstrapSettings(resample_events=False)
    draws = np.stack([bootstrap.resample(obs, settings, s).norm for s in range(4000)])
    np.testing.assert_array_less(np.abs(draws.mean(0) - norm), 4 * 0.02 * norm / np.sqrt(4000))
    np.testing.assert_allclose(draws.std(0), 0.02 * norm, rtol=0.05)
    fixed = bootstrap.resample(obs, AdversarialBootstrapSettings(resample_events=False, resample_norm=False), 3)
    np.testing.assert_array_equal(fixed.events, obs.events)
    np.testing.assert_array_equal(fixed.norm, norm)


def test_replicas_reproducible_and_pooled_as_point_estimates(observed, tmp_path):
    theory, events, norm = observed
    obs_path = tmp_path / "observed.h5"
    write_events(obs_path, events, TRUTH, norm, theory.spec(), seed=1, norm_rel_unc=0.02)
    common = [
        "--observed",
        str(obs_path),
        "--normalization",
        "on",
        "--settings",
        json.dumps(TINY),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--bootstrap-settings",
        "{}",
    ]
    paths = {}
    for name, replica in (("r0", 0), ("r0_again", 0), ("r1", 1)):
        paths[name] = tmp_path / f"{name}.h5"
        assert bootstrap.main([*common, "--replica", str(replica), "--out", str(paths[name])]) == 0
    r0, again, r1 = (read_samples(paths[k]) for k in ("r0", "r0_again", "r1"))
    assert r0.method == "adversarial_bootstrap" and r0.attrs["wall_time_s"] > 0
    np.testing.assert_array_equal(r0.samples, again.samples)  # same seed and replica: bit-identical
    np.testing.assert_array_equal(r0.extras["bootstrap_norm"], again.extras["bootstrap_norm"])
    assert not np.array_equal(r0.samples, r1.samples)
    out = tmp_path / "pooled.h5"
    assert (
        pool.main(
            ["--runs", str(paths["r0"]), str(paths["r1"]), "--method", "adversarial_bootstrap", "--estimates", "--out", str(out)]
        )
        == 0
    )
    pooled = read_samples(out)
    assert pooled.method == "adversarial_bootstrap" and pooled.samples.shape == (2, 6)
    np.testing.assert_allclose(pooled.samples, np.stack([r0.samples.mean(0), r1.samples.mean(0)]))


def test_registry_entry_and_settings():
    try:
        from pdfinfer.methods import REGISTRY
    except ValueError as err:  # another method's entry is invalid on this branch (main mid-integration)
        if "adversarial" in str(err):
            raise
        pytest.skip(f"registry not importable here: {err}")
    entry = REGISTRY["adversarial_bootstrap"]
    assert entry.family == "adversarial" and entry.settings_class() is AdversarialBootstrapSettings
    assert entry.n_replicas({"adversarial_bootstrap": {"replicas": 3}}) == 3
    assert entry.build_settings({"adversarial_bootstrap": {"replicas": 3, "resample_norm": False}}).resample_norm is False
