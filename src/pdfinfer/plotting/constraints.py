"""The "Physics constraints?" figure: exact-posterior widths of N_u, N_d under three priors/observables.

Input: the record of :func:`pdfinfer.constraints.study.study` (``constraints.json`` of the
pipeline's ``constraint_study`` rule, or of ``benchmarks/constraints.py``), with the cases ``none``
(events only), ``normalization`` (the normalization observable) and ``sum_rules`` (the valence sum
rules as a prior factor). The title is :func:`pdfinfer.constraints.study.answer`, computed from
those numbers; nothing in it is written by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pdfinfer.constraints.study import CASE_LABELS, SHOWN, answer
from pdfinfer.plotting.style import PlotStyle, figure, styled


def plot_constraint_widths(data: Mapping[str, Any], style: PlotStyle) -> Figure:
    """Bars of the posterior sd of N_u, N_d per case, with the van Trees bound as a tick.

    The van Trees bound limits the prior-averaged error, not one observed set's posterior width,
    and replaces the box by a Gaussian of its covariance: a bar may fall below its tick."""
    with styled(style):
        fig = figure(5.2, 3.6, style)
        ax = fig.subplots()
        x = np.arange(len(SHOWN))
        width = 0.8 / len(CASE_LABELS)
        for k, (case, label) in enumerate(CASE_LABELS.items()):
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
        ax.set_ylim(0, 1.6 * max(prior.get(SHOWN[0], 0.0), *(data["cases"][c]["std"][n] for c in CASE_LABELS for n in SHOWN)))
        ax.set_ylabel("exact posterior sd (physical units)")
        ax.set_title(f"Exact posterior widths, n_obs = {data['n_obs']} ({data.get('sampler', 'MCMC')})", fontsize="small")
        ax.legend(fontsize="small", frameon=False, loc="upper center", ncol=2)
        fig.suptitle(answer(data), fontsize=style.font_size, wrap=True)
    return fig
