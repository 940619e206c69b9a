r"""Calibration of the learned posteriors on held-out simulations.

* **Expected coverage.** For credibility levels :math:`1 - \alpha`, the fraction of held-out
  simulations :math:`(\theta_i, x_i)` whose true :math:`\theta_i` lies inside the method's
  :math:`1-\alpha` highest-density region. A calibrated posterior follows the diagonal; below it
  is over-confident, above it conservative. With :math:`S` simulations the empirical coverage
  of a calibrated method is Binomial(:math:`S`, level)/:math:`S`; the grey band is its central 95%.
* **SBC ranks** (Talts et al. 2018). The rank of :math:`\theta_{i,p}` among :math:`L` posterior
  draws of parameter :math:`p` is uniform on :math:`\{0..L\}` for a calibrated posterior; the
  band is the central 99% of a bin count under uniformity, Binomial(:math:`S`, 1/bins).
* **TARP** (Lemos et al. 2023). Expected coverage probability of random-point balls against the
  credibility level; the diagonal again means calibrated.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import binom

from pdfinfer.errors import DataError
from pdfinfer.params import N_PARAMS
from pdfinfer.plotting.style import PlotStyle, figure, legend_outside, method_color, method_label, param_label, styled


def binomial_band(levels: np.ndarray, n: int, mass: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Central ``mass`` interval of Binomial(n, level)/n for each level ``(L,)``."""
    lo = binom.ppf((1 - mass) / 2, n, levels) / n
    hi = binom.ppf(1 - (1 - mass) / 2, n, levels) / n
    return lo, hi


def _finish_coverage_axes(ax: Axes, ylabel: str, title: str) -> None:
    """Unit square, equal aspect, credibility level on x, ``ylabel`` on y, legend and title."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("credibility level")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)


def plot_expected_coverage(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], n_sims: int | None, style: PlotStyle, title: str = ""
) -> Figure:
    """Empirical vs nominal coverage; ``curves``: method -> ``(levels (L,), coverage (L,))``.

    ``n_sims``: number of held-out simulations (for the binomial band), None to omit the band.
    """
    if not curves:
        raise DataError("coverage plot: no coverage curves given")
    with styled(style):
        fig = figure(4.6, 4.6, style)
        ax = fig.add_subplot()
        grid = np.linspace(0, 1, 101)
        if n_sims:
            lo, hi = binomial_band(grid, int(n_sims))
            ax.fill_between(grid, lo, hi, color="0.85", lw=0, label=f"95% band, calibrated ({n_sims} sims)")
        ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1.0, label="ideal")
        for method, (levels, coverage) in curves.items():
            levels, coverage = np.asarray(levels, dtype=float), np.asarray(coverage, dtype=float)
            if levels.shape != coverage.shape or levels.ndim != 1:
                raise DataError(
                    f"coverage plot: {method!r} needs levels and coverage of equal 1-D shape, got {levels.shape} and {coverage.shape}"
                )
            ax.plot(
                levels,
                coverage,
                color=method_color(method),
                marker="o" if len(levels) < 12 else None,
                ms=3,
                label=method_label(method),
            )
        _finish_coverage_axes(ax, "empirical coverage", title)
    return fig


def plot_sbc_ranks(
    ranks: np.ndarray,
    n_posterior_samples: int,
    style: PlotStyle,
    bins: int = 20,
    ks_pvalues: np.ndarray | None = None,
    *,
    method: str,
    title: str = "",
) -> Figure:
    """SBC rank histograms, one panel per parameter (2 x 3), with the 99% band of a uniform histogram.

    At most ``bins`` bins, and no more than one per 10 simulations.

    ``ranks``: ``(S, 6)`` integers in ``[0, n_posterior_samples]``; ``ks_pvalues``: optional ``(6,)``.
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 2 or ranks.shape[1] != N_PARAMS or len(ranks) == 0:
        raise DataError(f"SBC plot: ranks must have shape (S, {N_PARAMS}), got {ranks.shape}")
    n_sims = len(ranks)
    bins = max(2, min(bins, n_posterior_samples + 1, n_sims // 10))  # about 10 simulations per bin at least
    edges = np.linspace(0, n_posterior_samples + 1, bins + 1)
    lo, hi = binom.ppf(0.005, n_sims, 1 / bins), binom.ppf(0.995, n_sims, 1 / bins)
    with styled(style):
        fig = figure(9.0, 5.4, style)
        axes = fig.subplots(2, 3, sharey=True).ravel()
        for p, ax in enumerate(axes):
            counts, _ = np.histogram(ranks[:, p], bins=edges)
            ax.axhspan(lo, hi, color="0.85", lw=0, label="99% band, uniform")
            ax.axhline(n_sims / bins, color="0.4", ls="--", lw=0.8)
            ax.stairs(counts, edges, color=method_color(method), fill=False, lw=1.3, label=method_label(method))
            ax.set_xlim(edges[0], edges[-1])
            ax.set_xlabel(f"rank of {param_label(p)}")
            if p % 3 == 0:
                ax.set_ylabel("simulations per bin")
            if ks_pvalues is not None:
                ax.text(
                    0.03,
                    0.95,
                    f"KS p = {float(ks_pvalues[p]):.2g}",
                    transform=ax.transAxes,
                    va="top",
                    fontsize=style.font_size * 0.8,
                )
        legend_outside(fig, *axes[0].get_legend_handles_labels())
        fig.suptitle(title or f"SBC ranks: {n_sims} simulations, {n_posterior_samples} posterior draws each")
    return fig


def plot_tarp(
    alpha: np.ndarray,
    ecp: np.ndarray,
    style: PlotStyle,
    atc: float | None = None,
    ks_pvalue: float | None = None,
    n_sims: int | None = None,
    *,
    method: str,
    title: str = "",
) -> Figure:
    """TARP expected coverage probability ``ecp`` ``(L,)`` against credibility ``alpha`` ``(L,)``."""
    alpha, ecp = np.asarray(alpha, dtype=float), np.asarray(ecp, dtype=float)
    if alpha.shape != ecp.shape or alpha.ndim != 1 or len(alpha) < 2:
        raise DataError(f"TARP plot: alpha and ecp must be 1-D of equal length >= 2, got {alpha.shape} and {ecp.shape}")
    with styled(style):
        fig = figure(4.6, 4.6, style)
        ax = fig.add_subplot()
        if n_sims:
            lo, hi = binomial_band(np.linspace(0, 1, 101), int(n_sims))
            ax.fill_between(np.linspace(0, 1, 101), lo, hi, color="0.85", lw=0, label=f"95% band ({n_sims} sims)")
        ax.plot([0, 1], [0, 1], color="0.4", ls="--", lw=1.0, label="ideal")
        stats = [f"ATC = {atc:.3f}" if atc is not None else "", f"KS p = {ks_pvalue:.2g}" if ks_pvalue is not None else ""]
        extra = ", ".join(s for s in stats if s)
        ax.plot(alpha, ecp, color=method_color(method), label=method_label(method) + (f" ({extra})" if extra else ""))
        _finish_coverage_axes(ax, "expected coverage probability (TARP)", title)
    return fig
