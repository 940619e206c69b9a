r"""PDFs with uncertainty bands: :math:`u(x)`, :math:`d(x)` and the targets' x-densities.

For each method's draws :math:`\eta_k` the curves

.. math:: u(x) = N_u x^{a_u}(1-x)^{b_u}, \quad d(x) = N_d x^{a_d}(1-x)^{b_d}, \quad g_t(x) \;(\text{e.g. } \sigma_p = 4u + d,\ \sigma_n = 4d + u)

are evaluated on an x-grid (``theory.pdfs`` and ``theory.x_density``); the bands are pointwise
central 68% and 95% intervals over draws. A lower panel shows the ratio of each band to the
curve at the truth :math:`\theta^*`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pdfinfer.errors import DataError
from pdfinfer.params import TRUTH
from pdfinfer.plotting.style import PlotStyle, figure, legend_outside, method_color, method_label, sort_methods, styled
from pdfinfer.theory import Theory

#: Quantiles stored per curve: 95% low, 68% low, median, 68% high, 95% high.
QUANTILES = (0.025, 0.16, 0.5, 0.84, 0.975)


def curve_label(name: str, theory_name: str) -> str:
    """Axis label of a curve: ``u`` -> ``$u(x)$``; ``g_p`` -> ``$\\sigma_p(x)$`` (proxy) or ``$d\\sigma_p/dx$ [nb]`` (dis)."""
    if name in ("u", "d"):
        return f"${name}(x)$"
    target = name.split("_", 1)[1]
    if theory_name == "dis":
        return rf"$d\sigma_{{{target}}}/dx$ [nb]"
    return rf"$\sigma_{{{target}}}(x)$"


def x_grid(theory: Theory, n: int = 200, x_max: float = 0.9) -> np.ndarray:
    """Grid ``(n,)`` from the theory's lower x limit to ``x_max`` (large-x tails are uninformative)."""
    return np.linspace(theory.x_lo, min(x_max, theory.x_hi), n)


def evaluate_curves(
    theory: Theory, eta: np.ndarray, x: np.ndarray, max_draws: int = 2000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Curves at draws ``eta`` ``(K, 6)`` on grid ``x`` ``(M,)``: name -> ``(K', M)``, ``K' = min(K, max_draws)``."""
    eta = np.asarray(eta, dtype=np.float64)
    if eta.ndim != 2 or eta.shape[1] != 6:
        raise DataError(f"PDF bands: expected parameter draws of shape (K, 6), got {eta.shape}")
    if len(eta) > max_draws:
        eta = eta[np.sort(np.random.default_rng(seed).choice(len(eta), max_draws, replace=False))]
    eta_t = torch.as_tensor(np.clip(eta, 0.0, 1.0))
    x_t = torch.as_tensor(x, dtype=torch.float64)
    with torch.no_grad():
        u, d = theory.pdfs(x_t, eta_t)
        g = theory.x_density(x_t[None, None, :], (theory.x_hi - x_t)[None, None, :], eta_t)
    out = {"u": u.numpy(), "d": d.numpy()}
    for t, name in enumerate(theory.target_names):
        out[f"g_{name}"] = g[:, t].numpy()
    return out


def band_quantiles(curves: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pointwise quantiles :data:`QUANTILES` of each curve: name -> ``(5, M)``."""
    return {name: np.quantile(values, QUANTILES, axis=0) for name, values in curves.items()}


def plot_pdf_bands(
    x: np.ndarray,
    bands: Mapping[str, Mapping[str, np.ndarray]],
    truth: Mapping[str, np.ndarray],
    curve_labels: Sequence[str],
    style: PlotStyle,
    title: str = "",
) -> Figure:
    """Bands of each method per curve (columns), ratio to truth underneath.

    Args:
        x: grid ``(M,)``.
        bands: method -> curve name -> quantiles ``(5, M)`` (:data:`QUANTILES`).
        truth: curve name -> values at the truth ``(M,)``; its keys fix the columns' order.
        curve_labels: y-axis label per curve, in the order of ``truth``.
    """
    names = list(truth)
    if len(curve_labels) != len(names):
        raise DataError(f"PDF plot: {len(curve_labels)} labels for {len(names)} curves")
    for method, per_curve in bands.items():
        for name in names:
            if name not in per_curve or per_curve[name].shape != (len(QUANTILES), len(x)):
                raise DataError(f"PDF plot: method {method!r} lacks quantiles (5, {len(x)}) of curve {name!r}")
    methods = sort_methods(list(bands))
    with styled(style):
        fig = figure(3.0 * len(names) + 0.4, 4.6, style)
        grid = fig.add_gridspec(2, len(names), height_ratios=(3, 1.3))
        for c, name in enumerate(names):
            top = fig.add_subplot(grid[0, c])
            bottom = fig.add_subplot(grid[1, c], sharex=top)
            ref = truth[name]
            ratio_extent = [0.9, 1.1]
            for m in methods:
                q = bands[m][name]
                color = method_color(m)
                top.fill_between(x, q[1], q[3], color=color, alpha=0.3, lw=0)
                top.plot(x, q[0], color=color, lw=0.7, ls=":")
                top.plot(x, q[4], color=color, lw=0.7, ls=":")
                top.plot(x, q[2], color=color, lw=1.0)
                r = q / ref
                bottom.fill_between(x, r[1], r[3], color=color, alpha=0.3, lw=0)
                bottom.plot(x, r[0], color=color, lw=0.7, ls=":")
                bottom.plot(x, r[4], color=color, lw=0.7, ls=":")
                ratio_extent = [min(ratio_extent[0], float(np.nanmin(r[0]))), max(ratio_extent[1], float(np.nanmax(r[4])))]
            top.plot(x, ref, color=method_color("truth"), ls="--", lw=1.4)
            bottom.axhline(1.0, color=method_color("truth"), ls="--", lw=1.0)
            top.set_ylabel(curve_labels[c])
            top.set_yscale("log")
            top.tick_params(labelbottom=False)
            top.set_xlim(x[0], x[-1])
            bottom.set_ylim(max(ratio_extent[0], 0.0) - 0.02, min(ratio_extent[1], 3.0) + 0.02)
            bottom.set_xlabel("$x$")
            bottom.set_ylabel("ratio to truth")
        handles = [Patch(color=method_color(m), alpha=0.4) for m in methods]
        handles += [Line2D([], [], color="0.3", ls=":", lw=0.7), Line2D([], [], color=method_color("truth"), ls="--")]
        labels = [f"{method_label(m)} (68%)" for m in methods] + ["95% interval", method_label("truth")]
        legend_outside(fig, handles, labels)
        if title:
            fig.suptitle(title)
    return fig


def truth_curves(theory: Theory, x: np.ndarray) -> dict[str, np.ndarray]:
    """The curves at the truth :math:`\\eta^*`: name -> ``(M,)``."""
    return {name: values[0] for name, values in evaluate_curves(theory, TRUTH[None], x).items()}
