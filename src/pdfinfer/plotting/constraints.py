"""The "Physics constraints?" figure: exact-posterior widths of N_u, N_d under three priors/observables.

Input: ``{"cases": {case: {"std": {name: physical sd}, "cramer_rao": {name: bound or None},
"bayesian_bound": {name: bound}}}, "n_obs": int, ...}`` as ``benchmarks/constraints.py`` writes
it, with the cases ``none`` (events only), ``normalization`` (the normalization observable) and
``sum_rules`` (the valence sum rules as a prior factor). :func:`answer` states the result from
those numbers; nothing in it is written by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pdfinfer.plotting.style import PlotStyle, figure, styled

CASES = {"none": "events only", "normalization": "normalization observable", "sum_rules": "sum rules (prior)"}
SHOWN = ("N_u", "N_d")


def answer(data: Mapping[str, Any]) -> str:
    """One sentence: how much each constraint narrows N_u and N_d relative to events alone."""
    cases = data["cases"]
    base = cases["none"]["std"]

    def ratios(case: str) -> str:
        return ", ".join(f"{n} {cases[case]['std'][n] / base[n]:.2f}x" for n in SHOWN)

    better = min(("normalization", "sum_rules"), key=lambda c: sum(cases[c]["std"][n] for n in SHOWN))
    shapes = [n for n in base if n not in SHOWN]
    shape = min(shapes, key=lambda n: cases["sum_rules"]["std"][n] / base[n])
    return (
        f"At n_obs = {data['n_obs']} the sum rules (tolerance {data['tolerance']:g}) shrink the exact posterior's widths to "
        f"{ratios('sum_rules')} of the events-only widths, the normalization observable ({data['rel_unc']:g} relative) to "
        f"{ratios('normalization')}: the {CASES[better]} breaks the N_u/N_d ridge more; of the shapes the sum rules narrow {shape} most "
        f"({cases['sum_rules']['std'][shape] / base[shape]:.2f}x, against {cases['normalization']['std'][shape] / base[shape]:.2f}x "
        "with the normalization), since they tie the normalizations to the small-x shape."
    )


def plot_constraint_widths(data: Mapping[str, Any], style: PlotStyle) -> Figure:
    """Bars of the posterior sd of N_u, N_d per case, with the van Trees bound as a tick.

    The van Trees bound limits the prior-averaged error, not one observed set's posterior width,
    and replaces the box by a Gaussian of its covariance: a bar may fall below its tick."""
    with styled(style):
        fig = figure(5.2, 3.0, style)
        ax = fig.subplots()
        x = np.arange(len(SHOWN))
        width = 0.8 / len(CASES)
        for k, (case, label) in enumerate(CASES.items()):
            entry = data["cases"][case]
            std = [entry["std"][n] for n in SHOWN]
            pos = x + (k - 1) * width
            ax.bar(pos, std, width, label=label, color=f"C{k}")
            vt = [entry["bayesian_bound"][n] for n in SHOWN]
            ax.plot(pos, vt, "k_", markersize=12, label="van Trees bound (Gaussian prior, prior-averaged)" if k == 0 else None)
        prior = data.get("prior_std", {})
        if prior:
            ax.axhline(prior[SHOWN[0]], color="0.5", ls=":", lw=1, label="prior sd (box width / sqrt 12)")
        ax.set_xticks(x, [f"${n}$" for n in SHOWN])
        ax.set_ylim(0, 1.6 * max(prior.get(SHOWN[0], 0.0), *(data["cases"][c]["std"][n] for c in CASES for n in SHOWN)))
        ax.set_ylabel("exact posterior sd (physical units)")
        ax.set_title(f"Exact posterior widths, n_obs = {data['n_obs']} ({data.get('sampler', 'MCMC')})")
        ax.legend(fontsize="small", frameon=False, loc="upper center", ncol=2)
    return fig
