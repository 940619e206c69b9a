"""Coverage over replicated observed sets: each method's empirical coverage against the nominal level.

One panel per replicate kind (sets at the truth, sets at prior draws), one column per method:
the fraction of sets whose true parameters lie in the method's joint 68% (circles) and 95%
(squares) regions, with Clopper-Pearson 95% intervals; dashed lines at the nominal levels. Input:
the ``coverage.json`` of :mod:`pdfinfer.compare.coverage`.
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
KIND_TITLES = {"truth": r"sets at the truth $\theta^*$", "prior": "sets at prior draws"}


def _consistent(k: int, n: int, nominal: float) -> bool:
    """Whether ``k`` of ``n`` is consistent with the ``nominal`` rate (two-sided 99.9% Clopper-Pearson)."""
    from pdfinfer.compare.replicas import clopper_pearson

    lo, hi = clopper_pearson(k, n, level=0.999)
    return lo <= nominal <= hi


def coverage_answer(coverage: Mapping[str, Any]) -> str:
    """One sentence from the run's numbers: which methods' 95% regions are consistent with nominal."""
    consistent, off = [], []
    n = max((e["summary"][k]["95"]["joint"]["n"] for e in coverage.values() for k in e["summary"]), default=0)
    for label in sort_methods(list(coverage)):
        entry = coverage[label]
        stats = [entry["summary"][kind]["95"]["joint"] for kind in entry["summary"] if entry["summary"][kind]["95"]["joint"]["n"]]
        ok = all(_consistent(s["k"], s["n"], 0.95) for s in stats)
        (consistent if ok else off).append(method_label(label))
    parts = []
    if consistent:
        parts.append("consistent with 95% coverage: " + ", ".join(consistent))
    if off:
        parts.append("not consistent: " + ", ".join(off))
    sentence = f"Joint 95% regions over {n} replicated sets per kind (99.9%-level binomial check), " + "; ".join(parts) + "."
    if n < 20:  # with so few sets the binomial interval cannot separate 95% from far lower rates
        sentence = f"Only {n} sets per kind: a check of the machinery, too few to tell calibrated from overconfident. " + sentence
    return sentence


def plot_coverage(coverage: Mapping[str, Any], style: PlotStyle, title: str = "") -> Figure:
    """Empirical joint coverage per method and replicate kind, with binomial intervals."""
    if not coverage:
        raise DataError("coverage plot: no methods in the coverage file")
    labels = sort_methods(list(coverage))
    kinds = [k for k in KIND_TITLES if any(coverage[m]["summary"][k]["68"]["joint"]["n"] for m in labels)]
    with styled(style):
        fig = figure(4.0 * max(len(kinds), 1) + 1.0, 4.2, style)
        axes = np.atleast_1d(fig.subplots(1, max(len(kinds), 1), sharey=True))
        for ax, kind in zip(axes, kinds):
            for i, label in enumerate(labels):
                for j, (level, marker) in enumerate(MARKERS.items()):
                    stat = coverage[label]["summary"][kind][level]["joint"]
                    if not stat["n"]:
                        continue
                    lo, hi = stat["interval"]
                    x = i + (j - 0.5) * 0.25
                    ax.errorbar(
                        x,
                        stat["rate"],
                        yerr=[[stat["rate"] - lo], [hi - stat["rate"]]],
                        fmt=marker,
                        color=method_color(label),
                        ms=5,
                        capsize=2,
                    )
            for level in MARKERS:
                ax.axhline(int(level) / 100, color="0.5", ls="--", lw=0.8)
            n = max(coverage[m]["summary"][kind]["68"]["joint"]["n"] for m in labels)
            ax.set_title(f"{KIND_TITLES[kind]} ({n} sets)")
            ax.set_xticks(range(len(labels)), [method_label(m) for m in labels], rotation=20, ha="right")
            ax.set_ylim(-0.03, 1.03)
        axes[0].set_ylabel("fraction of sets with the truth in the joint region")
        handles = [Line2D([], [], color="0.3", marker=m, ls="") for m in MARKERS.values()]
        fig.legend(handles, ["68% region", "95% region"], loc="outside lower center", ncol=2, frameon=False)
        fig.suptitle((title + "\n" if title else "") + coverage_answer(coverage), fontsize=style.font_size, wrap=True)
    return fig
