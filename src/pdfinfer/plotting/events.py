r"""Observed vs generated events: per-feature histograms with ratio panels.

For each method with parameter draws :math:`\eta_1, \dots, \eta_K` we draw ``D`` of them and
simulate one replicate data set of ``n`` events at each (the posterior predictive, or for the
adversarial method the generated events):

.. math:: \tilde x^{(j)} \sim p(x \mid \eta_j), \qquad j = 1, \dots, D.

Each replicate is histogrammed as a density :math:`h^{(j)}_b`; the figure shows the median over
replicates and its central 68% band, which carries both the parameter uncertainty and the
Poisson fluctuation of a data set of size ``n``. The observed set is drawn as points with
Poisson errors :math:`\sqrt{n_b}/(N\,\Delta_b)`; bins are equal-probability bins of the observed set. The legend quotes

.. math:: \chi^2/n_{bins} = \frac{1}{n_{bins}} \sum_b \frac{(o_b - \bar h_b)^2}{\operatorname{Var}_j h^{(j)}_b},

which is about 1 when the observed set looks like a typical replicate (the predictive variance
already contains the Poisson noise when ``n`` equals the observed-set size).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from pdfinfer.errors import DataError
from pdfinfer.plotting.style import PlotStyle, feature_label, figure, log_axis, method_color, method_label, sort_methods, styled

#: Fewest observed events per bin (about 20% statistical precision).
MIN_EVENTS_PER_BIN = 25


def feature_edges(observed: np.ndarray, bins: int) -> list[np.ndarray]:
    """Equal-probability bin edges per feature: quantiles of the observed set (each bin holds ~N/bins events).

    Steeply falling spectra then get the same statistical precision in every bin, as in the
    quantile comparison of the GANplifying study.
    """
    edges = []
    for f in range(observed.shape[1]):
        e = np.unique(np.quantile(observed[:, f], np.linspace(0.0, 1.0, bins + 1)))
        if len(e) < 2:
            e = np.array([e[0] - 0.5, e[0] + 0.5])
        edges.append(e)
    return edges


def replicate_densities(replicates: np.ndarray, edges: np.ndarray, feature: int) -> np.ndarray:
    """Histogram densities ``(D, n_bins)`` of one feature of replicate sets ``(D, N, F)``.

    Densities are normalized by the set size (events outside the edges count as lost), so
    they are comparable with the observed set's density over the same edges.
    """
    widths = np.diff(edges)
    counts = np.stack([np.histogram(rep[:, feature], bins=edges)[0] for rep in replicates])
    return counts / (replicates.shape[1] * widths)


def chi2_per_bin(observed: np.ndarray, replicates: np.ndarray) -> float:
    """Mean over bins of ``(o_b - mean_b)^2 / var_b`` (bins with zero predictive variance skipped)."""
    mean, var = replicates.mean(0), replicates.var(0, ddof=1) if len(replicates) > 1 else np.zeros(replicates.shape[1])
    ok = var > 0
    return float(np.mean((observed[ok] - mean[ok]) ** 2 / var[ok])) if ok.any() else float("nan")


def plot_event_marginals(
    observed: np.ndarray,
    predictive: Mapping[str, np.ndarray],
    feature_names: Sequence[str],
    log_features: Sequence[bool],
    style: PlotStyle,
    bins: int = 20,
    title: str = "",
) -> Figure:
    """Per-feature histograms of the observed set vs each method's replicates, with ratio panels.

    Args:
        observed: observed events ``(N, F)``.
        predictive: method name -> replicate sets ``(D, n, F)`` (the files of :mod:`pdfinfer.predictive`).
        feature_names: the ``F`` feature names (``theory.feature_names``).
        log_features: per feature, whether its density is drawn on a log axis (positive features
            always get a log x axis).
        bins: bins per feature (equal-probability bins of the observed set, :func:`feature_edges`),
            at most one per :data:`MIN_EVENTS_PER_BIN` observed events.
    """
    observed = np.asarray(observed)
    if observed.ndim != 2 or observed.shape[1] != len(feature_names):
        raise DataError(f"event plot: observed events must have shape (N, {len(feature_names)}), got {observed.shape}")
    for method, reps in predictive.items():
        if reps.ndim != 3 or reps.shape[2] != observed.shape[1]:
            raise DataError(f"event plot: replicates of {method!r} must have shape (D, n, {observed.shape[1]}), got {reps.shape}")
    n_feat = observed.shape[1]
    bins = max(3, min(bins, len(observed) // MIN_EVENTS_PER_BIN))
    edges = feature_edges(observed, bins)
    methods = sort_methods(list(predictive))
    with styled(style):
        n_cols = min(n_feat, 2)  # two features per row: (x_p, x_n) for proxy, one target per row for dis
        n_rows = -(-n_feat // n_cols)
        fig = figure(3.4 * n_cols + 0.4, 4.4 * n_rows, style)
        grid = fig.add_gridspec(2 * n_rows, n_cols, height_ratios=(3, 1.2) * n_rows)
        for f in range(n_feat):
            row, col = divmod(f, n_cols)
            top = fig.add_subplot(grid[2 * row, col])
            bottom = fig.add_subplot(grid[2 * row + 1, col], sharex=top)
            e = edges[f]
            centers = np.sqrt(e[1:] * e[:-1]) if e[0] > 0 else 0.5 * (e[1:] + e[:-1])
            counts = np.histogram(observed[:, f], bins=e)[0]
            norm = len(observed) * np.diff(e)
            obs, obs_err = counts / norm, np.sqrt(counts) / norm
            safe = np.where(obs > 0, obs, np.nan)
            for method in methods:
                dens = replicate_densities(predictive[method], e, f)
                lo, med, hi = np.quantile(dens, [0.16, 0.5, 0.84], axis=0)
                color = method_color(method)
                chi2 = chi2_per_bin(obs, dens)
                label = f"{method_label(method)}  $\\chi^2/n_{{bins}}$ = {chi2:.2f}"
                top.stairs(med, e, color=color, label=label)
                top.stairs(hi, e, baseline=lo, fill=True, color=color, alpha=0.25, linewidth=0)
                bottom.stairs(med / safe, e, color=color)
                bottom.stairs(hi / safe, e, baseline=lo / safe, fill=True, color=color, alpha=0.25, linewidth=0)
            top.errorbar(
                centers,
                obs,
                yerr=obs_err,
                fmt="o",
                ms=2.5,
                color=method_color("observed"),
                label=f"{method_label('observed')} (N = {len(observed)})",
                zorder=5,
            )
            bottom.errorbar(
                centers, np.ones_like(centers), yerr=obs_err / safe, fmt="o", ms=2.5, color=method_color("observed"), zorder=5
            )
            bottom.axhline(1.0, color="0.5", lw=0.8, ls="--")
            if e[0] > 0:  # momentum fractions and Q^2 are positive: log x spreads the crowded low end
                log_axis(top.xaxis, e[0], e[-1])
            if log_features[f]:
                top.set_yscale("log")
            else:
                top.set_ylim(0, top.get_ylim()[1] * 1.45)  # room for the legend above the data
            top.set_ylabel("density")
            top.tick_params(labelbottom=False)
            top.legend(loc="best")
            bottom.set_xlabel(feature_label(feature_names[f]))
            bottom.set_ylabel("pred. / obs.")
            half = float(np.clip(2.5 * np.nanmedian(obs_err / safe), 0.25, 0.95))  # about 2.5 sigma of a bin
            bottom.set_ylim(1 - half, 1 + half)
            top.set_xlim(e[0], e[-1])
        if title:
            fig.suptitle(title)
    return fig
