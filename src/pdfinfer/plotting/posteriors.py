r"""Parameter posteriors: a corner plot overlaying the methods, and 1-D marginals.

All draws are shown in physical units :math:`\theta = \theta_{min} + \eta(\theta_{max} - \theta_{min})`.
The 2-D panels draw highest-density contours (thin: 95%, thick: 68%; the first method, the reference, filled) that enclose 68% and 95% of the draws: the
histogram :math:`H` (lightly smoothed with a Gaussian of ``smooth`` bins) is thresholded at the
level :math:`h_q` such that :math:`\sum_{H > h_q} H = q \sum H`. The truth
:math:`\theta^*` is marked in every panel. With the normalization observable off, the events
fix only the ratio :math:`N_d/N_u`, so the :math:`(N_u, N_d)` panel shows a ridge up to the
prior edge: that is the exact answer, not a failure of the plot.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.ndimage import gaussian_filter

from pdfinfer.errors import DataError
from pdfinfer.params import N_PARAMS, THETA_MAX, THETA_MIN, WIDTHS
from pdfinfer.plotting.style import (
    PlotStyle,
    figure,
    legend_outside,
    method_color,
    method_label,
    param_label,
    sort_methods,
    styled,
)

LEVELS = (0.68, 0.95)


def _check_samples(samples: Mapping[str, np.ndarray]) -> None:
    if not samples:
        raise DataError("posterior plot: no method's samples given")
    for method, draws in samples.items():
        if draws.ndim != 2 or draws.shape[1] != N_PARAMS or len(draws) < 2:
            raise DataError(
                f"posterior plot: samples of {method!r} must have shape (K >= 2, {N_PARAMS}) in physical units, got {draws.shape}"
            )


def plot_ranges(samples: Mapping[str, np.ndarray], truth: np.ndarray, tail: float = 0.005, pad: float = 0.08) -> np.ndarray:
    """Axis range ``(6, 2)`` per parameter covering every method's central ``1 - 2 tail`` and the truth, inside the prior box."""
    lo = np.min([np.quantile(s, tail, axis=0) for s in samples.values()] + [truth], axis=0)
    hi = np.max([np.quantile(s, 1 - tail, axis=0) for s in samples.values()] + [truth], axis=0)
    span = np.maximum(hi - lo, 1e-3 * WIDTHS)
    return np.stack([np.maximum(lo - pad * span, THETA_MIN), np.minimum(hi + pad * span, THETA_MAX)], axis=1)


def density_levels(hist: np.ndarray, levels: tuple[float, ...] = LEVELS) -> list[float]:
    """Thresholds of ``hist`` whose super-level sets hold each fraction in ``levels`` (ascending thresholds)."""
    flat = np.sort(hist.ravel())[::-1]
    cum = np.cumsum(flat)
    if cum[-1] <= 0:
        return []
    cum /= cum[-1]
    out = sorted({float(flat[min(np.searchsorted(cum, q), len(flat) - 1)]) for q in levels})
    return [v for v in out if v > 0]


def n_bins(n_draws: int, cap: int) -> int:
    """Bins per axis for ``n_draws`` draws: about ``sqrt(K) / 1.5`` (sparse 2-D histograms of few draws
    give ragged contours), between 8 and ``cap``."""
    return int(np.clip(np.sqrt(n_draws) / 1.5, 8, cap))


def _contour(
    ax, x: np.ndarray, y: np.ndarray, xr: np.ndarray, yr: np.ndarray, color: str, bins: int, smooth: float, filled: bool
) -> None:
    hist, xe, ye = np.histogram2d(x, y, bins=bins, range=[xr, yr])
    if smooth > 0:
        hist = gaussian_filter(hist, smooth)
    lv = density_levels(hist)
    if len(lv) == 0:
        return
    xc, yc = 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1])
    fill = lv + [hist.max() * (1 + 1e-9)]
    if filled and np.all(np.diff(fill) > 0):
        ax.contourf(xc, yc, hist.T, levels=fill, colors=[color], alpha=0.12)
    ax.contour(xc, yc, hist.T, levels=lv, colors=[color], linewidths=(0.8, 1.4)[-len(lv) :])


def plot_corner(
    samples: Mapping[str, np.ndarray],
    truth: np.ndarray,
    style: PlotStyle,
    bins: int = 40,
    smooth: float = 1.0,
    title: str = "",
) -> Figure:
    """Corner plot: 1-D histograms on the diagonal, 68%/95% contours below it, truth marked.

    Args:
        samples: method name -> draws ``(K, 6)`` in physical units.
        truth: the true parameters ``(6,)`` in physical units.

    ``bins`` is the most bins per axis (fewer for few draws, :func:`n_bins`). The figure has a
    6 x 6 grid of axes; the 15 above the diagonal are removed.
    """
    _check_samples(samples)
    truth = np.asarray(truth, dtype=float)
    ranges = plot_ranges(samples, truth)
    methods = sort_methods(list(samples))
    with styled(style):
        fig = figure(9.0, 9.4, style, layout=None)
        axes = fig.subplots(N_PARAMS, N_PARAMS, squeeze=False)
        fig.subplots_adjust(left=0.08, right=0.985, bottom=0.075, top=0.93 if title else 0.95, wspace=0.06, hspace=0.06)
        for i in range(N_PARAMS):
            for j in range(N_PARAMS):
                ax = axes[i, j]
                if j > i:
                    fig.delaxes(ax)
                    continue
                if i == j:
                    for m in methods:
                        ax.hist(
                            samples[m][:, i],
                            bins=n_bins(len(samples[m]), bins),
                            range=ranges[i],
                            density=True,
                            histtype="step",
                            color=method_color(m),
                        )
                    ax.axvline(truth[i], color=method_color("truth"), lw=1.2)
                    ax.set_yticks([])
                else:
                    for k, m in enumerate(methods):
                        _contour(
                            ax,
                            samples[m][:, j],
                            samples[m][:, i],
                            ranges[j],
                            ranges[i],
                            method_color(m),
                            n_bins(len(samples[m]), bins),
                            smooth,
                            filled=k == 0,
                        )
                    ax.axvline(truth[j], color=method_color("truth"), lw=1.0)
                    ax.axhline(truth[i], color=method_color("truth"), lw=1.0)
                    ax.plot(truth[j], truth[i], "s", color=method_color("truth"), ms=3)
                    ax.set_ylim(ranges[i])
                ax.set_xlim(ranges[j])
                ax.tick_params(labelsize=style.font_size * 0.7)
                if i == N_PARAMS - 1:
                    ax.set_xlabel(param_label(j))
                    ax.tick_params(axis="x", labelrotation=45)
                else:
                    ax.tick_params(labelbottom=False)
                if j == 0 and i > 0:
                    ax.set_ylabel(param_label(i))
                elif j > 0 or i == 0:
                    ax.tick_params(labelleft=False)
        handles = [Line2D([], [], color=method_color(m)) for m in methods] + [
            Line2D([], [], color=method_color("truth"), marker="s", ms=3)
        ]
        labels = [method_label(m) for m in methods] + [method_label("truth")]
        fig.legend(
            handles,
            labels,
            loc="upper right",
            bbox_to_anchor=(0.985, 0.93 if title else 0.95),
            frameon=False,
            fontsize=style.font_size * 1.1,
        )
        if title:
            fig.suptitle(title, y=0.985)
    return fig


def plot_marginals(
    samples: Mapping[str, np.ndarray],
    truth: np.ndarray,
    style: PlotStyle,
    bins: int = 50,
    title: str = "",
) -> Figure:
    """1-D marginal of each parameter (2 x 3 panels), every method overlaid, truth marked.

    ``samples``: method name -> draws ``(K, 6)`` in physical units; ``truth`` ``(6,)``. Each
    legend entry quotes the method's mean and standard deviation.
    """
    _check_samples(samples)
    truth = np.asarray(truth, dtype=float)
    ranges = plot_ranges(samples, truth)
    methods = sort_methods(list(samples))
    with styled(style):
        fig = figure(10.0, 5.6, style)
        axes = fig.subplots(2, 3, squeeze=False).ravel()
        for i, ax in enumerate(axes):
            for m in methods:
                draws = samples[m][:, i]
                ax.hist(
                    draws,
                    bins=n_bins(len(draws), bins),
                    range=ranges[i],
                    density=True,
                    histtype="step",
                    color=method_color(m),
                    label=f"{draws.mean():.3g} $\\pm$ {draws.std(ddof=1):.2g}",
                )
            ax.axvline(truth[i], color=method_color("truth"), lw=1.2, label=f"truth {truth[i]:.3g}")
            ax.set_xlim(ranges[i])
            ax.set_xlabel(param_label(i))
            ax.set_ylabel("posterior density")
            ax.legend(loc="best", title="mean $\\pm$ std", title_fontsize=style.font_size * 0.8, fontsize=style.font_size * 0.75)
        handles = [Line2D([], [], color=method_color(m)) for m in methods] + [Line2D([], [], color=method_color("truth"))]
        legend_outside(fig, handles, [method_label(m) for m in methods] + [method_label("truth")])
        if title:
            fig.suptitle(title)
    return fig
