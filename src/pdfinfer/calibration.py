r"""Calibration of any amortized posterior sampler on held-out prior-predictive sets.

Given held-out pairs :math:`(\eta_j, x_j)`, :math:`\eta_j \sim p(\eta)`, :math:`x_j \sim p(x \mid \eta_j)`,
:math:`j = 1..M` (``holdout.h5``), and a sampler ``draw`` that gives :math:`L` draws
:math:`\eta_j^{(l)} \sim q(\eta \mid x_j)`, a calibrated :math:`q` (in particular the exact
posterior) makes every statistic of the truth rank uniformly among the draws. From the draws
``(M, L, 6)``, drawn once and shared by every check:

* **SBC** (Talts et al. 2018): ranks :math:`r_{jk} = \#\{l : \eta^{(l)}_{jk} < \eta_{jk}\}`, uniform
  on :math:`\{0..L\}`; KS p-value per parameter (``sbi.diagnostics.check_uniformity_frequentist``),
  optionally ``sbi.diagnostics.check_sbc``'s classifier checks (C2ST of ranks and of the
  data-averaged posterior vs the prior).
* **Expected coverage** (Deistler et al. 2022): a scalar statistic :math:`f(\eta, x)` ranked the
  same way, :math:`\rho_j = \#\{l: f(\eta^{(l)}_j, x_j) < f(\eta_j, x_j)\}`; the truth lies in the
  level-:math:`\alpha` region :math:`\{f \ge f_{1-\alpha}\}` iff :math:`\rho_j \ge (1-\alpha) L`, so
  :math:`\hat c(\alpha) = \frac1M \sum_j 1[\rho_j \ge (1-\alpha) L]` (diagonal = calibrated,
  below = overconfident). With a density (``log_density``), :math:`f = \log q` gives
  highest-density regions; without one (e.g. an implicit adversarial sampler),
  :math:`f = -(\eta - \bar\eta_j)^\top \hat\Sigma_j^{-1} (\eta - \bar\eta_j)` with the mean and
  covariance of the draws and the truth pooled gives ellipsoidal regions (``coverage_statistic`` records which). Marginal
  central-interval coverage per parameter comes from the SBC ranks: :math:`|r_{jk}/L - 1/2| \le \alpha/2`.
* **TARP** (Lemos et al. 2023, ``sbi``'s ``_run_tarp``/``check_tarp`` on the same draws): expected
  coverage of random-reference balls, its area-to-curve statistic ATC (> 0 underconfident,
  < 0 overconfident) and a KS p-value against the diagonal.

Statistical resolution: each coverage value is a binomial proportion, standard error
:math:`\sqrt{\alpha(1-\alpha)/M}` (``coverage_stderr``), at most :math:`0.5/\sqrt M` (0.022 at
:math:`M = 500`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sbi.diagnostics import check_sbc, check_tarp
from sbi.diagnostics.sbc import check_uniformity_frequentist
from sbi.diagnostics.tarp import _run_tarp, get_tarp_references

#: Credibility levels at which coverage is reported.
LEVELS = np.round(np.linspace(0.0, 1.0, 21), 10)

#: ``draw(x (m, D), n) -> (m, n, 6)``: ``n`` posterior draws for each of ``m`` observations.
Draw = Callable[[torch.Tensor, int], torch.Tensor]
#: ``log_density(theta (m, K, 6), x (m, D)) -> (m, K)``.
LogDensity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def draw_all(draw: Draw, xs: torch.Tensor, n_samples: int, batch: int = 32) -> torch.Tensor:
    """Draws ``(M, L, 6)`` for every held-out observation ``xs`` ``(M, D)``, ``batch`` observations per call."""
    parts = [draw(chunk, n_samples).detach().cpu() for chunk in xs.split(batch)]
    return torch.cat(parts).to(torch.float32)


def sbc_ranks(samples: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """SBC ranks ``(M, 6)``: draws ``(M, L, 6)`` below the truth ``(M, 6)``, per parameter."""
    return (samples < theta[:, None, :]).sum(1)


def statistic_ranks(f_samples: torch.Tensor, f_truth: torch.Tensor) -> torch.Tensor:
    """Ranks ``(M,)`` of the truth's statistic ``(M,)`` among the draws' ``(M, L)``."""
    return (f_samples < f_truth[:, None]).sum(1)


def mahalanobis_statistic(samples: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``f = -`` squared Mahalanobis distance to the mean, ``((M, L), (M,))``.

    Mean and covariance are those of the draws *and* the truth pooled (``L + 1`` points): a
    symmetric function of points that are exchangeable under the exact posterior, so the truth's
    rank stays exactly uniform (the draws alone would pull the region towards themselves).
    """
    s = torch.cat([samples, theta[:, None, :]], dim=1).double()
    mean = s.mean(1, keepdim=True)
    centred = s - mean
    cov = centred.transpose(1, 2) @ centred / (s.shape[1] - 1) + 1e-12 * torch.eye(s.shape[2], dtype=s.dtype)
    chol = torch.linalg.cholesky(cov)

    def f(points: torch.Tensor) -> torch.Tensor:  # (M, K, 6) -> (M, K)
        z = torch.linalg.solve_triangular(chol, (points.double() - mean).transpose(1, 2), upper=False)
        return -(z**2).sum(1)

    values = f(s)
    return values[:, :-1], values[:, -1]


def coverage_from_ranks(ranks: np.ndarray, n_samples: int, levels: np.ndarray = LEVELS) -> np.ndarray:
    """Coverage :math:`\\hat c(\\alpha)` ``(len(levels),)`` from statistic ranks ``(M,)``."""
    frac = np.asarray(ranks, dtype=np.float64)[:, None] / n_samples
    return (frac >= (1.0 - levels[None, :]) - 1e-12).mean(0)


def marginal_coverage(ranks: np.ndarray, n_samples: int, levels: np.ndarray = LEVELS) -> np.ndarray:
    """Central-interval coverage per parameter, ``(len(levels), 6)``, from SBC ranks ``(M, 6)``."""
    frac = np.asarray(ranks, dtype=np.float64) / n_samples
    return (np.abs(frac[None, :, :] - 0.5) <= levels[:, None, None] / 2 + 1e-12).mean(1)


def tarp(samples: torch.Tensor, theta: torch.Tensor, seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """TARP on draws ``(M, L, 6)``: ``(alpha, ecp, atc, ks_pvalue)`` (sbi's implementation, seeded references)."""
    torch.manual_seed(seed)
    references = get_tarp_references(theta)
    ecp, alpha = _run_tarp(samples.transpose(0, 1).contiguous(), theta, references)
    atc, ks = check_tarp(ecp, alpha)
    return alpha.numpy().astype(np.float64), ecp.numpy().astype(np.float64), float(atc), float(ks)


def calibrate_samples(
    samples: torch.Tensor,
    theta: torch.Tensor,
    f: tuple[torch.Tensor, torch.Tensor] | None = None,
    seed: int = 0,
    c2st: bool = False,
    prior_samples: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Every check on draws ``samples`` ``(M, L, 6)`` for truths ``theta`` ``(M, 6)``.

    ``f``: the coverage statistic ``(f_samples (M, L), f_truth (M,))`` (e.g. log densities);
    ``None`` uses :func:`mahalanobis_statistic`. ``c2st`` needs ``prior_samples`` ``(M, 6)``.
    Returns plain arrays and floats (see the module docstring).
    """
    samples, theta = samples.cpu().float(), theta.cpu().float()
    n = samples.shape[1]
    ranks = sbc_ranks(samples, theta)
    statistic = "log_density" if f is not None else "mahalanobis"
    f_samples, f_truth = f if f is not None else mahalanobis_statistic(samples, theta)
    cov_ranks = statistic_ranks(f_samples.cpu(), f_truth.cpu()).numpy()
    coverage = coverage_from_ranks(cov_ranks, n)
    alpha, ecp, atc, tarp_ks = tarp(samples, theta, seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*less than 100 samples.*")
        if c2st:
            checks = check_sbc(ranks, prior_samples.cpu().float(), samples[:, 0, :], num_posterior_samples=n)
        else:
            checks = {"ks_pvals": check_uniformity_frequentist(ranks, n)}
    result: dict[str, Any] = {
        "theta": theta.numpy().astype(np.float64),
        "sbc_ranks": ranks.numpy(),
        "sbc_ks_pvalues": checks["ks_pvals"].numpy().astype(np.float64),
        "coverage_levels": LEVELS,
        "coverage_empirical": coverage,
        "coverage_stderr": np.sqrt(np.clip(LEVELS * (1 - LEVELS), 0, None) / len(theta)),
        "coverage_ranks": cov_ranks,
        "coverage_max_deviation": float(np.max(np.abs(coverage - LEVELS))),
        "coverage_statistic": statistic,
        "marginal_coverage": marginal_coverage(ranks.numpy(), n),
        "tarp_alpha": alpha,
        "tarp_ecp": ecp,
        "tarp_atc": atc,
        "tarp_ks_pvalue": tarp_ks,
    }
    if c2st:
        result["sbc_c2st_ranks"] = checks["c2st_ranks"].numpy().astype(np.float64)
        result["sbc_c2st_dap"] = checks["c2st_dap"].numpy().astype(np.float64)
    return result


def calibrate(
    draw: Draw,
    theta: torch.Tensor,
    xs: torch.Tensor,
    n_samples: int,
    log_density: LogDensity | None = None,
    seed: int = 0,
    c2st: bool = False,
    prior_samples: torch.Tensor | None = None,
    batch: int = 32,
) -> dict[str, Any]:
    """Draw for every held-out ``xs`` ``(M, D)`` and run :func:`calibrate_samples` (adds ``seconds``)."""
    tic = time.perf_counter()
    torch.manual_seed(seed)
    samples = draw_all(draw, xs, n_samples, batch)
    seconds = {"draws": time.perf_counter() - tic}
    f = None
    if log_density is not None:
        tic = time.perf_counter()
        parts = []
        for s, t, x in zip(samples.split(batch), theta.split(batch), xs.split(batch)):
            points = torch.cat([s, t[:, None, :].float()], dim=1).to(xs.device)
            parts.append(log_density(points, x).detach().cpu())
        values = torch.cat(parts)
        f = (values[:, :-1], values[:, -1])
        seconds["log_density"] = time.perf_counter() - tic
    tic = time.perf_counter()
    result = calibrate_samples(samples, theta, f, seed, c2st, prior_samples)
    seconds["checks"] = time.perf_counter() - tic
    return {**result, "seconds": seconds}
