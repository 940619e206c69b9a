"""Coverage over replicated observed sets: binomial intervals, coverage flags, and the machinery on a
conjugate model whose exact posterior must cover at the nominal rate."""

from __future__ import annotations

import numpy as np
import pytest

from pdfinfer.compare.replicas import clopper_pearson, coverage_of, summarize


def test_clopper_pearson_known_values():
    # 0 of 10: upper end 1 - 0.025**(1/10) = 0.3085; 10 of 10 mirrored; 5 of 10: (0.1871, 0.8129).
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(0.30850, abs=1e-4))
    assert clopper_pearson(10, 10) == (pytest.approx(0.69150, abs=1e-4), 1.0)
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.18709, abs=1e-4) and hi == pytest.approx(0.81291, abs=1e-4)
    assert clopper_pearson(0, 0) == (0.0, 1.0)


def test_coverage_flags_of_a_point_inside_and_outside():
    rng = np.random.default_rng(0)
    samples = 0.5 + 0.01 * rng.standard_normal((4000, 6))
    inside, outside = coverage_of(samples, np.full(6, 0.5)), coverage_of(samples, np.full(6, 0.53))
    assert inside["joint68"] and inside["joint95"] and all(inside["marginal68"])
    assert not outside["joint95"] and not any(outside["marginal95"])


def test_exact_posterior_covers_at_the_nominal_rate_over_the_prior():
    """Conjugate Gaussian: eta ~ N(0, I), x | eta ~ N(eta, s^2 I) => posterior N(x/(1+s^2), s^2/(1+s^2) I).

    300 replicates: the joint 95% rate has binomial sd sqrt(0.95 * 0.05 / 300) = 0.0126. The test
    accepts when the two-sided 99.9% Clopper-Pearson interval contains the nominal rate (an exact
    sampler fails it 0.1% of the time); a posterior half as wide must be refused at the same level.
    """

    def consistent(stat, nominal):
        lo, hi = clopper_pearson(stat["k"], stat["n"], level=0.999)
        return lo <= nominal <= hi

    rng = np.random.default_rng(11)
    s2 = 0.5
    records, narrow = [], []
    for index in range(300):
        eta = rng.standard_normal(6)
        x = eta + np.sqrt(s2) * rng.standard_normal(6)
        mean, sd = x / (1 + s2), np.sqrt(s2 / (1 + s2))
        draws = mean + sd * rng.standard_normal((2000, 6))
        records.append({"kind": "prior", "index": index, **coverage_of(draws, eta)})
        narrow.append({"kind": "prior", "index": index, **coverage_of(mean + 0.5 * (draws - mean), eta)})
    exact = summarize(records)["prior"]["95"]["joint"]
    assert exact["n"] == 300 and consistent(exact, 0.95), exact
    marginal = summarize(records)["prior"]["68"]["marginal"]["a_u"]
    assert consistent(marginal, 0.68), marginal
    over = summarize(narrow)["prior"]["95"]["joint"]
    assert not consistent(over, 0.95), over
