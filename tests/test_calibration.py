"""Method-agnostic calibration (pdfinfer.calibration) on a conjugate Gaussian toy with a known posterior.

Toy: eta ~ N(0, I_6), x = eta + s * eps. The exact posterior is N(x / (1 + s^2), s^2 / (1 + s^2) I),
so an exact sampler is available in closed form. M = 2000 held-out pairs, L = 200 draws each.

Tolerances: at level alpha the empirical coverage is a binomial proportion over M sets, standard
error sqrt(alpha (1 - alpha) / M) <= 0.5 / sqrt(2000) = 0.0112; the maximum over the 21 levels
stays below 4 standard errors (0.045) except with probability < 1e-3 (union bound over levels),
plus the rank resolution 1 / L = 0.005: tolerance 0.05. SBC KS p-values of an exact sampler are
uniform: each exceeds 1e-4 except with probability 1e-4 (6e-4 for the six). An overconfident
sampler (posterior std halved) covers the truth at the 68% level only about 38% of the time
(P(|z| < 0.5) = 0.383), far outside the tolerance, and must be caught.
"""

from __future__ import annotations

import numpy as np
import torch

from pdfinfer.calibration import LEVELS, calibrate, coverage_from_ranks, marginal_coverage

M, L, S = 2000, 200, 0.5
POST_VAR = S**2 / (1 + S**2)
TOL = 4 * 0.5 / np.sqrt(M) + 1.0 / L


def toy(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(M, 6, generator=gen)
    return theta, theta + S * torch.randn(M, 6, generator=gen)


def sampler(scale: float = 1.0):
    def draw(x: torch.Tensor, n: int) -> torch.Tensor:  # (m, 6) -> (m, n, 6)
        mean = x / (1 + S**2)
        return mean[:, None, :] + scale * np.sqrt(POST_VAR) * torch.randn(x.shape[0], n, 6)

    def log_density(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # (m, K, 6) -> (m, K)
        mean = x[:, None, :] / (1 + S**2)
        return -0.5 * ((theta - mean) ** 2).sum(-1) / (scale**2 * POST_VAR)

    return draw, log_density


def test_exact_sampler_is_calibrated_with_and_without_a_density():
    theta, x = toy()
    draw, log_density = sampler()
    with_density = calibrate(draw, theta, x, L, log_density, seed=1, batch=500)
    without = calibrate(draw, theta, x, L, None, seed=1, batch=500)
    assert with_density["coverage_statistic"] == "log_density" and without["coverage_statistic"] == "mahalanobis"
    for result in (with_density, without):
        assert result["coverage_max_deviation"] < TOL, result["coverage_empirical"]
        assert np.all(result["sbc_ks_pvalues"] > 1e-4), result["sbc_ks_pvalues"]
        assert np.max(np.abs(result["marginal_coverage"] - LEVELS[:, None])) < TOL
        assert result["tarp_ks_pvalue"] > 1e-4 and abs(result["tarp_atc"]) < 0.04  # overconfidence by 2x gives about -0.085


def test_overconfident_sampler_is_caught():
    theta, x = toy(seed=2)
    draw, log_density = sampler(scale=0.5)
    result = calibrate(draw, theta, x, L, log_density, seed=3, batch=500)
    i68 = int(np.argmin(np.abs(LEVELS - 0.7)))
    assert result["coverage_empirical"][i68] < 0.55  # expected about 0.2 in 6D, 0.7 nominal
    assert result["coverage_max_deviation"] > 0.3
    assert result["tarp_atc"] < -0.04  # TARP: < 0 means overconfident
    assert np.all(result["sbc_ks_pvalues"] < 1e-6)


def test_coverage_from_ranks_exact_values():
    """With L = 100 draws, rank r lies in the level-alpha region iff r >= (1 - alpha) L."""
    ranks = np.array([0, 50, 95, 100])
    cov = coverage_from_ranks(ranks, 100, np.array([0.0, 0.05, 0.5, 1.0]))
    np.testing.assert_allclose(cov, [0.25, 0.5, 0.75, 1.0])
    marg = marginal_coverage(np.array([[50] * 6, [0] * 6]), 100, np.array([0.0, 1.0]))
    np.testing.assert_allclose(marg, [[0.5] * 6, [1.0] * 6])
