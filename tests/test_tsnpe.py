"""Truncated sequential NPE (pdfinfer.tsnpe): settings, rounds, truncation, invariance, checkpoints, CLI.

Tiny runs (2 rounds x 32 sets x 16 events, 2 epochs per round, a tiny network): the tests check
properties that hold for any trained weights (the truncated proposal stays inside the prior box
and inside its density threshold, event-order invariance, the common samples layout, checkpoint
behaviour), not the fit's quality (benchmarks).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import yaml

from pdfinfer.errors import ConfigError
from pdfinfer.io import read_events, read_samples, write_events
from pdfinfer.methods import method
from pdfinfer.npe.model import make_posterior, observation_tensor
from pdfinfer.npe.sample import draw
from pdfinfer.params import TRUTH
from pdfinfer.runtime import make_generator
from pdfinfer.simulate import simulate_sets
from pdfinfer.theory import make_theory
from pdfinfer.tsnpe import run as tsnpe_run
from pdfinfer.tsnpe.rounds import run_rounds
from pdfinfer.tsnpe.settings import TSNPESettings

N_EVENTS = 16
TINY = {
    "rounds": 2,
    "simulations_per_round": 32,
    "support_samples": 2000,
    "hidden_features": 16,
    "num_transforms": 2,
    "num_bins": 4,
    "embedding": {"event_hidden": 8, "event_features": 4, "hidden": 16, "output_dim": 8},
    "training": {"batch_size": 16, "max_epochs": 2},
    "n_samples": 200,
}


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    path = tmp_path_factory.mktemp("tsnpe") / "observed.h5"
    theory = make_theory("proxy")
    events, norm = simulate_sets(theory, torch.as_tensor(TRUTH, dtype=torch.float64)[None], N_EVENTS, 0.02, make_generator(9))
    write_events(path, events[0], TRUTH, norm[0], theory.spec(), 9, 0.02)
    return path


@pytest.fixture(scope="module")
def result(observed):
    return run_rounds(TSNPESettings.from_config(TINY), read_events(observed, batched=False), False, 4)


def test_schema_defaults_equal_the_settings_defaults_and_the_registry_knows_it(repo_root):
    schema = yaml.safe_load((repo_root / "config" / "config.schema.yaml").read_text())["properties"]["tsnpe"]["properties"]

    def defaults(props):
        return {k: defaults(v["properties"]) if "properties" in v else v["default"] for k, v in props.items()}

    assert {k: v for k, v in defaults(schema).items() if k not in TSNPESettings.WORKFLOW_KEYS} == TSNPESettings.defaults()
    entry = method("tsnpe")
    assert entry.family == "sbi" and not entry.amortized and entry.settings_class() is TSNPESettings


def test_fresh_simulations_are_refused():
    with pytest.raises(ConfigError, match="fresh_simulations is not used"):
        TSNPESettings.from_config({"training": {"fresh_simulations": 8}})


def test_rounds_record_acceptance_and_the_truncation_is_inside_the_box(result):
    acceptance = result.history["acceptance"]
    assert len(acceptance) == 2 and acceptance[0] == 1.0 and 0.0 < acceptance[1] <= 1.0
    assert result.spec["n_simulations"] == 64 and len(result.history["val_loss"]) == 2


def test_permuting_observed_events_leaves_the_draws_unchanged(observed):
    """Rounds and draws depend on the observed set only through the symmetric embedding."""
    settings = TSNPESettings.from_config({**TINY, "rounds": 2})
    data = read_events(observed, batched=False)
    a = run_rounds(settings, data, False, 4)
    data.events = data.events[np.random.default_rng(1).permutation(N_EVENTS)]
    b = run_rounds(settings, data, False, 4)
    xa, xb = observation_tensor(data, a.spec), observation_tensor(data, b.spec)
    torch.testing.assert_close(
        draw(make_posterior(a.estimator), xa, 100, 3), draw(make_posterior(b.estimator), xb, 100, 3), atol=1e-4, rtol=1e-4
    )


def test_corrupt_checkpoint_warns_once_and_starts_afresh(observed, result, tmp_path, caplog):
    ckpt = tmp_path / "rounds.pt"
    ckpt.write_bytes(b"garbage")
    settings = TSNPESettings.from_config(TINY)
    with caplog.at_level(logging.WARNING):
        fresh = run_rounds(settings, read_events(observed, batched=False), False, 4, str(ckpt))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "checkpoint" in r.getMessage()]
    assert len(warnings) == 1 and "unreadable checkpoint" in warnings[0]
    assert all(torch.equal(v, result.estimator.state_dict()[k]) for k, v in fresh.estimator.state_dict().items())
    # the finished checkpoint resumes into the same result without training again
    resumed = run_rounds(settings, read_events(observed, batched=False), False, 4, str(ckpt))
    assert all(torch.equal(v, result.estimator.state_dict()[k]) for k, v in resumed.estimator.state_dict().items())


def test_cli_writes_the_common_samples_layout(observed, tmp_path):
    import json

    out, ckpt = tmp_path / "samples.h5", tmp_path / "rounds.pt"
    args = [
        "--observed",
        str(observed),
        "--normalization",
        "off",
        "--settings",
        json.dumps({**TINY, "rounds": 1}),
        "--out",
        str(out),
        "--checkpoint",
        str(ckpt),
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    assert tsnpe_run.main(args) == 0
    samples = read_samples(out)
    assert samples.samples.shape == (200, 6) and samples.method == "tsnpe" and samples.attrs["wall_time_s"] > 0
    assert np.all((samples.samples >= 0) & (samples.samples <= 1)) and not ckpt.exists()


class _BoxProposal:
    """A stand-in for sbi's RestrictedPrior: uniform box draws, every one accepted by the region."""

    acceptance_rate = 1.0

    def sample(self, shape, save_acceptance_rate=False, print_rejected_frac=False):
        return torch.rand((*shape, 6))


def test_proposals_follow_the_sum_rule_constrained_prior():
    """With observation.constraints on, round 0 draws the constrained prior and later rounds keep each
    truncated draw with probability f: with the whole box as the region, the kept draws are the
    constrained prior's. Two-sample KS of both sum-rule deviations against sample_prior's exact draws
    (2000 each, p > 0.001 for each of the four tests); off, round 0 is the plain box stream."""
    from scipy import stats

    from pdfinfer.constraints.settings import ConstraintSettings
    from pdfinfer.constraints.sumrules import deviations, sample_prior
    from pdfinfer.runtime import derive_seed
    from pdfinfer.tsnpe.rounds import propose

    constraint = ConstraintSettings("sum_rules", "soft", 0.2)
    exact = deviations(sample_prior(2000, torch.Generator().manual_seed(9), constraint)).numpy()
    first, rate0 = propose(None, 2000, seed=1, r=0, constraint=constraint)
    later, rate = propose(_BoxProposal(), 2000, seed=1, r=1, constraint=constraint)
    assert first.shape == later.shape == (2000, 6) and rate0 == 1.0 and 0.0 < rate < 0.5
    for draws in (first, later):
        dev = deviations(draws.double()).numpy()
        assert min(stats.ks_2samp(dev[:, k], exact[:, k]).pvalue for k in range(2)) > 1e-3
    box = deviations(torch.rand((2000, 6), generator=torch.Generator().manual_seed(3), dtype=torch.float64)).numpy()
    assert stats.ks_2samp(box[:, 0], exact[:, 0]).pvalue < 1e-6  # the test has power: the box is far from it
    torch.manual_seed(derive_seed(1, "tsnpe", "proposal", 0))
    plain = torch.rand((50, 6))
    assert torch.equal(propose(None, 50, seed=1, r=0)[0], plain)
