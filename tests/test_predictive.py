"""Posterior-predictive replicate sets: the one simulation that compare and the event figure share."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pdfinfer import predictive
from pdfinfer.io import read_events, write_samples
from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory


def test_choose_draws_is_a_seeded_subset_inside_the_box():
    samples = np.random.default_rng(0).uniform(0, 1, (50, 6))
    samples[0, 0] = 0.0
    a, b = predictive.choose_draws(samples, 10, 3), predictive.choose_draws(samples, 10, 3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (10, 6) and a.min() >= predictive.EDGE
    assert predictive.choose_draws(samples, 80, 3).shape == (50, 6)  # D = min(draws, K)
    assert not np.array_equal(a, predictive.choose_draws(samples, 10, 4))


@pytest.fixture(scope="module")
def samples_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pred") / "samples.h5"
    far = np.tile([0.2, 0.9, 0.1, 0.9, 0.1, 0.1], (20, 1))
    write_samples(path, np.vstack([far, np.tile(TRUTH, (20, 1))]), "npe", {}, 0, make_theory("proxy").spec())
    return path


def test_replicates_are_reproducible_and_follow_their_draws(samples_file, tmp_path):
    args = ["--samples", str(samples_file), "--draws", "6", "--n-events", "400", "--seed", "11", "--device", "cpu"]
    assert predictive.main([*args, "--out", str(tmp_path / "a.h5")]) == 0
    assert predictive.main([*args, "--out", str(tmp_path / "b.h5")]) == 0
    a, b = read_events(tmp_path / "a.h5", batched=True), read_events(tmp_path / "b.h5", batched=True)
    np.testing.assert_array_equal(a.events, b.events)
    assert a.events.shape == (6, 400, 2) and a.attrs["method"] == "npe"
    # Replicates at the far draw and at the truth differ in their mean x_p by many standard errors.
    far = np.isclose(a.params[:, 0], 0.2)
    assert far.any() and (~far).any()
    means, se = a.events[..., 0].mean(1), a.events[..., 0].std(1) / np.sqrt(400)
    assert abs(means[far].mean() - means[~far].mean()) > 5 * se.max()


def test_truth_replicates_and_errors(tmp_path, capsys):
    out = tmp_path / "truth.h5"
    spec = json.dumps(make_theory("proxy").spec())
    assert (
        predictive.main(["--truth", "--theory", spec, "--draws", "3", "--n-events", "50", "--device", "cpu", "--out", str(out)])
        == 0
    )
    sets = read_events(out, batched=True)
    np.testing.assert_allclose(sets.params, np.tile(TRUTH, (3, 1)))
    assert predictive.main(["--truth", "--draws", "3", "--n-events", "50", "--out", str(out)]) == 1
    assert "--truth needs --theory" in capsys.readouterr().err
    assert predictive.main(["--truth", "--theory", spec, "--draws", "0", "--n-events", "50", "--out", str(out)]) == 1
    assert "--draws must be at least 1, got 0" in capsys.readouterr().err
