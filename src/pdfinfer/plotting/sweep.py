r"""Sample-size sweep: posterior width vs the observed-set size ``n``.

For a regular model the posterior standard deviation of each parameter shrinks like
:math:`1/\sqrt{n}` and approaches the Cramér–Rao bound

.. math:: \sigma_p \ge \sqrt{\big[(n\,I(\theta^*))^{-1}\big]_{pp}},

with :math:`I` the per-event Fisher information. Each panel shows every method's width
(physical units, log–log axes), the :math:`1/\sqrt{n}` law anchored at the reference width of
the largest ``n``, and the bound where it exists (a degenerate direction, such as the
:math:`N_u`–:math:`N_d` ridge without the normalization observable, has none). The last panel
shows the C2ST accuracy of each method's draws against the reference draws (0.5: the two
cannot be told apart). Each panel quotes the fitted slope of :math:`\log \sigma` against
:math:`\log n` per method (``-0.5`` for the regular rate).

Under the panels, one sentence per method answers "how sensitive is it to the sample size?"
(:func:`sweep_answers`): the common slope :math:`b` of :math:`\log \sigma_p = a_p + b \log n`
over the identifiable parameters (those with a Cramér–Rao bound at every ``n``; per-parameter
intercepts, least squares, :func:`width_slope`) against :math:`-0.5`, and whether its C2ST against
the exact posterior holds across ``n``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from pdfinfer.errors import DataError
from pdfinfer.methods import REFERENCE
from pdfinfer.params import N_PARAMS
from pdfinfer.plotting.style import PlotStyle, figure, method_color, method_label, param_label, sort_methods, styled

#: A width slope within this of -0.5 counts as following 1/sqrt(n) (within two standard errors only: "consistent with").
SLOPE_TOLERANCE = 0.1
#: A change of the C2ST across the sweep within this counts as holding.
C2ST_TOLERANCE = 0.05


def width_slope(
    n_obs: Sequence[float], widths: np.ndarray, use: Sequence[bool] | None = None
) -> tuple[float | None, float | None, int]:
    """Common slope of ``log width`` against ``log n``: ``(b, standard error, parameters used)``.

    ``widths`` ``(S, P)``; a parameter enters (``use``, default all) when its width is finite and
    positive at every size. Each parameter keeps its own intercept; ``b`` is the least-squares slope
    of the centred logs, its error from the residuals (``None`` without residual degrees of freedom).
    """
    x = np.log(np.asarray(n_obs, dtype=float))
    w = np.asarray(widths, dtype=float)
    keep = np.all(np.isfinite(w) & (w > 0), axis=0) & (np.ones(w.shape[1], bool) if use is None else np.asarray(use, bool))
    if len(x) < 2 or not keep.any():
        return None, None, int(keep.sum())
    xc = np.broadcast_to((x - x.mean())[:, None], (len(x), int(keep.sum())))
    y = np.log(w[:, keep])
    yc = y - y.mean(axis=0)
    slope = float((xc * yc).sum() / (xc**2).sum())
    dof = xc.size - keep.sum() - 1
    se = float(np.sqrt(((yc - slope * xc) ** 2).sum() / dof / (xc**2).sum())) if dof > 0 else None
    return slope, se, int(keep.sum())


def sweep_answers(
    n_obs: Sequence[float],
    widths: Mapping[str, np.ndarray],
    c2st: Mapping[str, np.ndarray] | None = None,
    cramer_rao: np.ndarray | None = None,
) -> list[str]:
    """One sentence per method: does its width follow 1/sqrt(n), does its C2ST vs exact hold across n?"""
    n = np.asarray(n_obs, dtype=float)
    order = np.argsort(n)
    use = None if cramer_rao is None else np.all(np.isfinite(np.asarray(cramer_rao, dtype=float)), axis=0)
    lines = []
    for m in sort_methods(list(widths)):
        slope, se, k = width_slope(n[order], np.asarray(widths[m], dtype=float)[order], use)
        if slope is None:
            text = f"{method_label(m)}: width slope not measurable (fewer than two sizes or no identifiable parameter)"
        else:
            off = slope + 0.5
            if abs(off) <= SLOPE_TOLERANCE:
                verdict = "follows 1/sqrt(n)"
            elif abs(off) <= 2 * (se or 0):
                verdict = "consistent with 1/sqrt(n) within 2 standard errors"
            else:
                verdict = "shrinks slower than 1/sqrt(n)" if off > 0 else "shrinks faster than 1/sqrt(n)"
            err = f" ± {se:.2f}" if se is not None else ""
            text = f"{method_label(m)}: width ∝ n^({slope:+.2f}{err}) ({k} identifiable parameters) vs -0.50: {verdict}"
        acc = None if c2st is None or m not in c2st else np.asarray(c2st[m], dtype=float)[order]
        if acc is not None and np.isfinite(acc).sum() >= 2:
            ok = np.flatnonzero(np.isfinite(acc))
            first, last = acc[ok[0]], acc[ok[-1]]
            change = last - first
            held = (
                f"holds (within {C2ST_TOLERANCE:g})"
                if abs(change) <= C2ST_TOLERANCE
                else ("worsens" if change > 0 else "improves")
            )
            text += f"; C2ST vs exact {first:.2f} -> {last:.2f} (n = {n[order][ok[0]]:g} -> {n[order][ok[-1]]:g}): {held}"
        lines.append(text + ".")
    return lines


def plot_sweep(
    n_obs: np.ndarray,
    widths: Mapping[str, np.ndarray],
    style: PlotStyle,
    cramer_rao: np.ndarray | None = None,
    c2st: Mapping[str, np.ndarray] | None = None,
    anchor: str = REFERENCE,
    sqrt_law: np.ndarray | None = None,
    exponents: Mapping[str, np.ndarray] | None = None,
    title: str = "",
) -> Figure:
    """Width vs ``n`` per parameter (6 panels) and C2ST vs ``n`` (7th panel); legend in the 8th.

    Args:
        n_obs: observed-set sizes ``(S,)``.
        widths: method -> posterior standard deviations ``(S, 6)`` in physical units (NaN: missing).
        cramer_rao: Cramér–Rao bounds ``(S, 6)`` (NaN where degenerate), or None.
        c2st: method -> C2ST accuracy against the reference ``(S,)`` (NaN: missing), or None.
        anchor: method whose width at the largest ``n`` anchors the ``1/sqrt(n)`` line (unless ``sqrt_law`` is given).
        sqrt_law: the ``1/sqrt(n)`` law ``(S, 6)`` as computed by the comparison, drawn instead.
        exponents: method -> fitted slope of log width vs log n ``(6,)``, quoted in each panel.
    """
    n = np.asarray(n_obs, dtype=float)
    order = np.argsort(n)
    n = n[order]
    if n.ndim != 1 or len(n) == 0:
        raise DataError(f"sweep plot: n_obs must be a non-empty 1-D array, got shape {np.shape(n_obs)}")
    for method, w in widths.items():
        if np.shape(w) != (len(n), N_PARAMS):
            raise DataError(f"sweep plot: widths of {method!r} must have shape ({len(n)}, {N_PARAMS}), got {np.shape(w)}")
    methods = sort_methods(list(widths))
    n_line = np.geomspace(n[0] / 1.3, n[-1] * 1.3, 50)
    answers = sweep_answers(
        n,
        {m: np.asarray(w, dtype=float)[order] for m, w in widths.items()},
        None if c2st is None else {m: np.asarray(c, dtype=float)[order] for m, c in c2st.items()},
        None if cramer_rao is None else np.asarray(cramer_rao, dtype=float)[order],
    )
    with styled(style):
        fig = figure(11.0, 5.6 + 0.2 * len(answers), style)
        axes = fig.subplots(2, 4).ravel()
        # supxlabel: constrained layout keeps room for it under the panels (the answer, one line per method)
        fig.supxlabel("\n".join(answers), x=0.01, ha="left", fontsize=style.font_size * 0.85, linespacing=1.4)
        for p in range(N_PARAMS):
            ax = axes[p]
            for m in methods:
                w = np.asarray(widths[m], dtype=float)[order, p]
                ok = np.isfinite(w) & (w > 0)
                ax.plot(n[ok], w[ok], "o-", color=method_color(m), ms=3.5)
            ref = np.asarray(sqrt_law if sqrt_law is not None else widths.get(anchor, next(iter(widths.values()))), dtype=float)[
                order, p
            ]
            finite = np.flatnonzero(np.isfinite(ref) & (ref > 0))
            if len(finite):
                k = finite[-1]
                ax.plot(n_line, ref[k] * np.sqrt(n[k] / n_line), color="0.5", ls="--", lw=1.0)
            if cramer_rao is not None:
                cr = np.asarray(cramer_rao, dtype=float)[order, p]
                ok = np.isfinite(cr) & (cr > 0)
                if ok.any():
                    ax.plot(n[ok], cr[ok], "s:", color="0.2", ms=3, lw=1.0)
            degenerate = cramer_rao is not None and not np.isfinite(np.asarray(cramer_rao, dtype=float)[:, p]).any()
            slopes = [
                (m, float(exponents[m][p])) for m in methods if exponents and m in exponents and np.isfinite(exponents[m][p])
            ]
            if slopes or degenerate:  # a small legend where it covers the fewest points
                handles = [Line2D([], [], color=method_color(m)) for m, _ in slopes]
                legend = ax.legend(
                    handles,
                    [f"slope {b:+.2f}" for _, b in slopes],
                    loc="best",
                    fontsize=style.font_size * 0.7,
                    title="no Cramér–Rao bound\n(degenerate direction)" if degenerate else None,
                    title_fontsize=style.font_size * 0.7,
                    handlelength=1.0,
                )
                legend.get_title().set_color("0.3")
            ax.set_yscale("log")
            _n_axis(ax, n)
            ax.set_ylabel(f"posterior std of {param_label(p)}")
        ax = axes[6]
        if c2st:
            for m in sort_methods(list(c2st)):
                acc = np.asarray(c2st[m], dtype=float)[order]
                ok = np.isfinite(acc)
                ax.plot(n[ok], acc[ok], "o-", color=method_color(m), ms=3.5)
        ax.axhline(0.5, color="0.5", ls="--", lw=1.0)
        ax.set_ylim(0.4, 1.02)
        _n_axis(ax, n)
        ax.set_ylabel("C2ST accuracy vs reference")
        legend_ax = axes[7]
        legend_ax.axis("off")
        handles = [
            Line2D([], [], color=method_color(m), marker="o", ms=3.5) for m in sort_methods(list(set(widths) | set(c2st or {})))
        ]
        labels = [method_label(m) for m in sort_methods(list(set(widths) | set(c2st or {})))]
        handles += [Line2D([], [], color="0.5", ls="--"), Line2D([], [], color="0.2", ls=":", marker="s", ms=3)]
        labels += [r"$\propto 1/\sqrt{n}$ through the " + method_label(anchor).split(" (")[0].lower(), "Cramér–Rao bound"]
        handles += [Line2D([], [], color="0.5", ls="--")]
        labels += ["C2ST = 0.5 (indistinguishable)"]
        legend_ax.legend(handles, labels, loc="center", fontsize=style.font_size * 0.85)
        if title:
            fig.suptitle(title)
    return fig


def _n_axis(ax, n: np.ndarray) -> None:
    """Log x axis with ticks exactly at the swept sizes."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(n))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("$n_{obs}$")
