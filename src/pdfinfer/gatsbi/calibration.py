r"""Calibration of an amortized posterior from draws alone: SBC ranks, expected coverage, TARP.

Method-agnostic: everything goes through a draw function ``draw(j) -> (L, 6)`` for hold-out set
``j`` (a posterior for the hold-out pair :math:`(\eta_j, x_j)`, :math:`j = 1..M`). Only draws are
used, no density, so any amortized method (a GAN, a flow) is checked the same way:

* **SBC** (Talts et al. 2018): rank :math:`r_{jk} = \#\{l : \eta^{(l)}_{jk} < \eta_{jk}\}`, uniform on
  :math:`\{0..L\}` when calibrated; KS p-value per parameter (sbi's ``check_uniformity_frequentist``).
  Marginal central-interval coverage per parameter from those ranks.
* **Expected coverage** of highest-density regions, with the density estimated from the draws:
  a Gaussian kernel density :math:`\hat q_j` in the draws' whitened coordinates (Scott's
  bandwidth, leave-one-out at the draws themselves). The rank
  :math:`r_j = \#\{l : \hat q_j(\eta^{(l)}_j) < \hat q_j(\eta_j)\}` gives coverage
  :math:`\hat c(\alpha) = \frac1M\sum_j 1[r_j \ge (1-\alpha)L]`, as for NPE
  (:func:`pdfinfer.calibration.coverage_from_ranks`); below the diagonal = overconfident.
* **TARP** (Lemos et al. 2023): a reference point :math:`\rho_j \sim U[0,1]^6` per set,
  :math:`f_j = \frac1L\#\{l: \|\eta^{(l)}_j - \rho_j\| < \|\eta_j - \rho_j\|\}`, expected coverage
  probability :math:`\mathrm{ECP}(\alpha) = \frac1M\sum_j 1[f_j \le \alpha]`, with sbi's ``check_tarp``
  for the area-to-curve ATC (< 0 overconfident; like sbi, a sum over the grid points above 0.5,
  not an integral) and a KS p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from pdfinfer.calibration import LEVELS, coverage_from_ranks, marginal_coverage

#: Credibility grid of the TARP curve.
TARP_ALPHA = np.linspace(0.0, 1.0, 51)


def sbc_ranks(theta: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Ranks ``(M, 6)`` of the truths ``theta`` ``(M, 6)`` among ``draws`` ``(M, L, 6)``."""
    return (draws < theta[:, None, :]).sum(1)


def kde_log_density(points: torch.Tensor, draws: torch.Tensor, leave_one_out: bool = False) -> torch.Tensor:
    """Gaussian-KDE log density (up to a constant) of ``points`` ``(P, D)`` from ``draws`` ``(L, D)``, whitened by the draws' covariance."""
    mean = draws.mean(0)
    cov = torch.cov(draws.T) + 1e-9 * torch.eye(draws.shape[1], dtype=draws.dtype)
    chol = torch.linalg.cholesky(cov)

    def white(a):
        return torch.linalg.solve_triangular(chol, (a - mean).T, upper=False).T

    d, L = draws.shape[1], draws.shape[0]
    h = L ** (-1.0 / (d + 4))  # Scott's factor
    sq = torch.cdist(white(points), white(draws)).pow(2) / (2 * h * h)
    if leave_one_out:
        sq = sq + torch.diag(torch.full((L,), math.inf, dtype=sq.dtype))
    return torch.logsumexp(-sq, dim=1)


def hpd_rank(theta: np.ndarray, draws: np.ndarray) -> int:
    """Number of draws ``(L, 6)`` whose estimated density lies below that of the truth ``(6,)``."""
    x = torch.as_tensor(draws, dtype=torch.float64)
    at_draws = kde_log_density(x, x, leave_one_out=True)
    at_truth = kde_log_density(torch.as_tensor(theta, dtype=torch.float64)[None], x)[0]
    return int((at_draws < at_truth).sum())


def tarp(theta: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """TARP ``(ecp, alpha)`` on :data:`TARP_ALPHA` for truths ``(M, 6)`` and draws ``(M, L, 6)``."""
    refs = rng.uniform(size=theta.shape)
    sample_d = np.linalg.norm(draws - refs[:, None, :], axis=-1)
    theta_d = np.linalg.norm(theta - refs, axis=-1)
    f = (sample_d < theta_d[:, None]).mean(1)
    return (f[None, :] <= TARP_ALPHA[:, None] + 1e-12).mean(1), TARP_ALPHA.copy()


def run_calibration(draw: Callable[[int], np.ndarray], theta: np.ndarray, seed: int) -> dict[str, np.ndarray | float]:
    """SBC, expected coverage and TARP for hold-out truths ``theta`` ``(M, 6)`` and ``draw(j) -> (L, 6)``.

    Returns the keys of :func:`pdfinfer.npe.diagnostics.run_diagnostics` (so the calibration
    figures read either): ``sbc_ranks`` ``(M, 6)``, ``sbc_ks_pvalues`` ``(6,)``, ``coverage_levels``/
    ``coverage_empirical``/``coverage_stderr`` ``(21,)``, ``coverage_ranks`` ``(M,)``,
    ``marginal_coverage`` ``(21, 6)``, ``tarp_alpha``/``tarp_ecp``, ``tarp_atc``, ``tarp_ks_pvalue``,
    ``coverage_max_deviation``.
    """
    from sbi.diagnostics import check_tarp
    from sbi.diagnostics.sbc import check_uniformity_frequentist

    draws = np.stack([np.asarray(draw(j), dtype=np.float64) for j in range(len(theta))])
    n_samples = draws.shape[1]
    ranks = sbc_ranks(theta, draws)
    hpd = np.array([hpd_rank(theta[j], draws[j]) for j in range(len(theta))])
    coverage = coverage_from_ranks(hpd, n_samples)
    ecp, alpha = tarp(theta, draws, np.random.default_rng(seed))
    atc, tarp_ks = check_tarp(torch.as_tensor(ecp), torch.as_tensor(alpha))
    return {
        "theta": theta,
        "sbc_ranks": ranks,
        "sbc_ks_pvalues": check_uniformity_frequentist(torch.as_tensor(ranks), n_samples).numpy().astype(np.float64),
        "coverage_levels": LEVELS,
        "coverage_empirical": coverage,
        "coverage_stderr": np.sqrt(np.clip(LEVELS * (1 - LEVELS), 0, None) / len(theta)),
        "coverage_ranks": hpd,
        "coverage_max_deviation": float(np.max(np.abs(coverage - LEVELS))),
        "marginal_coverage": marginal_coverage(ranks, n_samples),
        "tarp_alpha": alpha,
        "tarp_ecp": ecp,
        "tarp_atc": float(atc),
        "tarp_ks_pvalue": float(tarp_ks),
    }
