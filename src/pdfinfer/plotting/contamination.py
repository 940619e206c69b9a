"""Outliers: how each method's answer moves as a fraction eps of the observed events is contaminated.

One row per outlier kind (``broad``, ``shifted``); columns: the largest move of the posterior mean
over the parameters in clean exact-posterior standard deviations (± its standard error over sets,
the ``graceful_sd`` threshold dashed), the distance of the posterior mean from the truth
(normalized units, mean over sets), and the fraction of sets whose truth lies in the joint 68%
(circles, dotted) and 95% (squares, solid) regions with Clopper-Pearson 95% intervals. The title states which
methods degrade gracefully, computed from the numbers (:func:`pdfinfer.contamination.study.answer`).
Input: the ``contamination.json`` of :mod:`pdfinfer.contamination.gather`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pdfinfer.errors import DataError
from pdfinfer.plotting.style import PlotStyle, figure, method_color, method_label, sort_methods, styled

MARKERS = {"68": "o", "95": "s"}
LINES = {"68": ":", "95": "-"}
KIND_TITLES = {
    "broad": "broad outliers (x uniform over the support)",
    "shifted": r"shifted outliers (events at $\eta^*$ + shift)",
}


def _column(cells: list[Mapping[str, Any]], key: str) -> np.ndarray:
    """``key`` of every cell ``(E,)`` (NaN where null)."""
    return np.array([np.nan if c.get(key) is None else c[key] for c in cells], dtype=float)


def _coverage_panel(ax, labels: list[str], per_label: Mapping[str, list], offset: float) -> None:
    for i, label in enumerate(labels):
        for j, (level, marker) in enumerate(MARKERS.items()):
            cells = per_label[label]
            eps = np.array([c["eps"] for c in cells]) + offset * (i + 0.5 * j - (len(labels) - 1) / 2)
            stats = [c[f"coverage{level}"]["joint"] for c in cells]
            rate = np.array([s["rate"] for s in stats], dtype=float)
            lo = rate - np.array([s["interval"][0] for s in stats])
            hi = np.array([s["interval"][1] for s in stats]) - rate
            ax.errorbar(eps, rate, yerr=[lo, hi], fmt=marker + LINES[level], color=method_color(label), ms=4, capsize=2, lw=0.8)
    for level in MARKERS:
        ax.axhline(int(level) / 100, color="0.5", ls="--", lw=0.8)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("sets with the truth in the joint region")


def plot_contamination(data: Mapping[str, Any], style: PlotStyle, title: str = "") -> Figure:
    """Shift, bias and coverage against eps, one row per kind; the answer sentence as the title."""
    from pdfinfer.contamination.study import answer

    summary = data.get("methods") or {}
    if not summary:
        raise DataError("contamination plot: no methods in the contamination file")
    labels = sort_methods(list(summary))
    kinds = list(summary[labels[0]])
    graceful = float(data.get("settings", {}).get("graceful_sd", 1.0))
    sentence = answer({m: summary[m] for m in labels}, graceful, data.get("failures", ()))
    with styled(style):
        fig = figure(12.0, 3.3 * len(kinds) + 1.2, style)
        axes = np.atleast_2d(fig.subplots(len(kinds), 3, sharex=True))
        for row, kind in zip(axes, kinds):
            top = max(c["eps"] for m in labels for c in summary[m][kind]) or 1.0
            offset = 0.012 * top
            for i, label in enumerate(labels):
                shift = (i - (len(labels) - 1) / 2) * offset
                cells = summary[label][kind]
                eps = _column(cells, "eps") + shift
                value, se = _column(cells, "max_shift_sd"), np.nan_to_num(_column(cells, "max_shift_se"))
                row[0].errorbar(eps, value, yerr=se, fmt="o-", color=method_color(label), ms=4, capsize=2)
                row[1].plot(eps, _column(cells, "bias_norm"), "o-", color=method_color(label), ms=4)
            row[0].axhline(graceful, color="0.5", ls="--", lw=0.8)
            row[0].set_ylabel("max |shift of mean| / clean exact sd")
            row[1].set_ylabel(r"$|\bar\eta - \eta^*|$ (normalized)")
            _coverage_panel(row[2], labels, {m: summary[m][kind] for m in labels}, offset)
            n = max(c["n_sets"] for m in labels for c in summary[m][kind])
            row[0].set_title(f"{KIND_TITLES.get(kind, kind)}, {n} sets", loc="left")
        for ax in axes[-1]:
            ax.set_xlabel(r"contaminated fraction $\epsilon$")
        handles = [Line2D([], [], color=method_color(m), marker="o") for m in labels]
        handles += [Line2D([], [], color="0.3", marker=MARKERS[k], ls=LINES[k]) for k in MARKERS]
        names = [method_label(m) for m in labels] + ["68% region", "95% region"]
        fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 6), frameon=False)
        fig.suptitle((title + "\n" if title else "") + sentence, fontsize=style.font_size, wrap=True)
    return fig
