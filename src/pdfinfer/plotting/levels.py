r"""Event level against parameter level, and the GANplifying amplification curve.

The seed study asks whether there is value in generating realistic events even if the generated
parameters are distant from the true ones. :func:`plot_levels` sets, per method, its event-level
distance from the observed set (event C2ST, quantile MSE) against its parameter-level distance
from the exact posterior (C2ST, relative error of the mean), with the perfect model as the floor
of each: events simulated at the truth, and the exact posterior against itself. A method can sit
on the event floor and far from the parameter floor; the figure shows that gap.

:func:`plot_amplification` draws the quantile MSE of :math:`n` true events against :math:`n`
(measured and expected, :func:`pdfinfer.compare.metrics.expected_quantile_mse`) and marks each
method's large posterior-predictive sample at its effective number of true events (Butter et al.
2020, "GANplifying event samples").

Both take the comparison's ``metrics.json`` content (:mod:`pdfinfer.compare.run`) and write the
run's own answer in a sentence under the figure (:func:`levels_answer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pdfinfer.errors import DataError
from pdfinfer.methods import REFERENCE
from pdfinfer.plotting.style import PlotStyle, figure, method_color, method_label, sort_methods, styled

#: (x key, y key, x label, y label) of the two panels of :func:`plot_levels`.
PANELS = (
    ("event_c2st", "c2st", "event-level C2ST vs observed events", "parameter-level C2ST vs exact posterior"),
    ("event_quantile_mse", "rel_l2_error", "event quantile MSE", "relative L2 error of the mean"),
)


def _methods(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    methods = metrics.get("methods")
    if not isinstance(methods, Mapping) or REFERENCE not in methods:
        raise DataError(f"levels: metrics have no methods with the {REFERENCE!r} entry")
    return {m: methods[m] for m in sort_methods(list(methods))}


def levels_answer(metrics: Mapping[str, Any]) -> str:
    """One sentence, from the run's numbers: do realistic events imply correct parameters?"""
    methods = _methods(metrics)
    floor = metrics["baselines"]["truth_events"]["event_c2st"]
    learned = {m: r for m, r in methods.items() if m != REFERENCE}
    if not learned:
        return "Only the exact posterior ran: no learned method to compare."
    worst_event = max(learned, key=lambda m: abs(learned[m]["event_c2st"] - floor))
    scored = {m: r for m, r in learned.items() if r["c2st"] is not None}
    if not scored:
        return "No learned method has enough draws for a parameter-level C2ST."
    worst_param, best_param = max(scored, key=lambda m: scored[m]["c2st"]), min(scored, key=lambda m: scored[m]["c2st"])
    spread_event = abs(learned[worst_event]["event_c2st"] - floor)
    spread_param = learned[worst_param]["c2st"] - learned[best_param]["c2st"]
    verdict = (
        "realistic events do not imply correct parameters"
        if spread_param > 2 * max(spread_event, 0.01)
        else "event and parameter levels agree here"
    )
    return (
        f"Every learned method's event C2ST lies within {spread_event:.3f} of the perfect model's {floor:.3f}, "
        f"while the parameter C2ST ranges from {learned[best_param]['c2st']:.2f} ({method_label(best_param)}) "
        f"to {learned[worst_param]['c2st']:.2f} ({method_label(worst_param)}): {verdict}."
    )


def plot_levels(metrics: Mapping[str, Any], style: PlotStyle, title: str = "") -> Figure:
    """Two panels (C2ST vs C2ST, quantile MSE vs error of the mean), one marker per method, floors dashed."""
    methods = _methods(metrics)
    floors_x = {key: metrics["baselines"]["truth_events"][key] for key in ("event_c2st", "event_quantile_mse")}
    with styled(style):
        fig = figure(9.0, 4.4, style)
        axes = fig.subplots(1, 2)
        for ax, (xkey, ykey, xlabel, ylabel) in zip(axes, PANELS):
            for m, r in methods.items():
                if r[ykey] is not None:  # a C2ST is null for a method with too few draws
                    ax.plot(r[xkey], r[ykey], "o" if m != REFERENCE else "s", color=method_color(m), ms=6)
            ax.axvline(floors_x[xkey], color="0.4", ls="--", lw=1.0)
            if ykey == "c2st":
                ax.axhline(methods[REFERENCE]["c2st"], color="0.4", ls=":", lw=1.0)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        axes[1].set_xscale("log")
        handles = [Line2D([], [], color=method_color(m), marker="o", ls="") for m in methods]
        handles += [Line2D([], [], color="0.4", ls="--"), Line2D([], [], color="0.4", ls=":")]
        labels = [method_label(m) for m in methods] + ["events at the truth (perfect model)", "exact posterior vs itself"]
        fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
        fig.suptitle((title + "\n" if title else "") + levels_answer(metrics), fontsize=style.font_size, wrap=True)
    return fig


def plot_amplification(metrics: Mapping[str, Any], style: PlotStyle, title: str = "") -> Figure:
    """Quantile MSE of n true events vs n (measured points, expected line); each method at its effective n."""
    curve = metrics.get("amplification")
    if not isinstance(curve, Mapping) or "sizes" not in curve:
        raise DataError("amplification plot: metrics have no 'amplification' curve")
    sizes = np.asarray(curve["sizes"], dtype=float)
    n_obs = int(metrics["n_obs"])
    with styled(style):
        fig = figure(6.0, 4.4, style)
        ax = fig.add_subplot()
        grid = np.geomspace(sizes[0], max(sizes[-1], curve["bin_events"]) * 4, 200)
        expected = (curve["n_quantiles"] - 1) / curve["n_quantiles"] ** 2 * (1 / grid + 1 / curve["bin_events"])
        ax.plot(grid, expected, color="0.3", lw=1.2, label="true events: expected")
        ax.plot(sizes, curve["measured_mse"], "o", color="0.3", ms=3.5, label="true events: measured")
        ax.axvline(n_obs, color="0.6", ls=":", lw=1.0, label=f"observed set ({n_obs})")
        lines = []
        for m, r in _methods(metrics).items():
            amp = r["amplification"]
            mse = r["event_quantile_mse"]
            marker = ">" if amp["bound"] == "lower" else "o"
            ax.plot(
                amp["effective_events"],
                mse,
                marker,
                color=method_color(m),
                ms=7,
                label=f"{method_label(m)}: x{amp['factor']:.1f}",
            )
            lines.append(f"{method_label(m)} {amp['factor']:.1f}" + ("+" if amp["bound"] == "lower" else ""))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("number of true events n")
        ax.set_ylabel("quantile MSE")
        ax.legend(loc="lower left", fontsize=style.font_size * 0.85)
        sentence = "Amplification (effective true events / observed events; + : lower bound): " + ", ".join(lines) + "."
        fig.suptitle((title + "\n" if title else "") + sentence, fontsize=style.font_size, wrap=True)
    return fig
