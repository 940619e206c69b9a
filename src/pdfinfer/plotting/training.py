r"""Training curves: adversarial losses and generated-parameter trajectories; per-epoch losses.

Adversarial runs log, per logged step :math:`s`, the discriminator (not in the histogram mode),
generator and (in the surrogate modes) surrogate losses, the chi2/bins of the generator's
predictive events against the observed set (the stopping figure of ``select: best_chi2``, whose
selected step is marked) and the mean and standard deviation of the generated parameters
:math:`\bar\theta(s) \pm \sigma_\theta(s)`. A run that converges shows the losses settling and
:math:`\bar\theta(s)` approaching the region of the truth :math:`\theta^*` with a stable spread;
seeds are overlaid so their agreement (or not) is visible. Noisy losses are drawn faintly with a
running mean over ``window`` logged steps on top.

Density-estimation methods (NPE, NLE, ...) log the training and validation loss (negative log
density per training example) per epoch; early stopping keeps the epoch of lowest validation loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from pdfinfer.errors import DataError
from pdfinfer.params import N_PARAMS
from pdfinfer.plotting.style import (
    SEED_COLORS,
    PlotStyle,
    figure,
    legend_outside,
    method_color,
    method_label,
    param_label,
    styled,
)


@dataclass
class AdversarialHistory:
    """One adversarial run's logged history.

    ``step`` ``(S,)``; ``losses`` name -> ``(S,)`` (e.g. ``"D"``, ``"G"``, ``"surrogate"``);
    ``mean`` and ``std`` ``(S, 6)`` of the generated parameters in physical units (``std`` may be None).
    """

    step: np.ndarray
    losses: dict[str, np.ndarray]
    mean: np.ndarray
    std: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = len(self.step)
        for name, values in self.losses.items():
            if values.shape != (s,):
                raise DataError(f"adversarial history: loss {name!r} has shape {values.shape}, expected ({s},) like 'step'")
        if self.mean.shape != (s, N_PARAMS):
            raise DataError(f"adversarial history: parameter mean has shape {self.mean.shape}, expected ({s}, {N_PARAMS})")
        if self.std is not None and self.std.shape != (s, N_PARAMS):
            raise DataError(f"adversarial history: parameter std has shape {self.std.shape}, expected ({s}, {N_PARAMS})")


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing running mean over ``window`` points (shorter at the start), same length as ``values``."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    cum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    return (cum[idx] - cum[start]) / (idx - start)


def mark_selected_steps(axes: list, runs: Mapping[str, AdversarialHistory], colors: Mapping[str, str]) -> None:
    """A dotted vertical line at each run's selected step (``extra["selected_step"]``) when it is not the last."""
    for label, run in runs.items():
        selected = run.extra.get("selected_step")
        if selected is None or len(run.step) == 0 or int(selected) == int(run.step[-1]):
            continue
        for ax in axes:
            ax.axvline(int(selected), color=colors[label], ls=":", lw=1.0)


def plot_adversarial_training(
    runs: Mapping[str, AdversarialHistory], truth: np.ndarray, style: PlotStyle, title: str = ""
) -> Figure:
    """Losses (top row, one panel per loss) and parameter trajectories (2 x 3) vs step, one colour per run.

    ``runs``: run label (e.g. ``"seed 0"``) -> :class:`AdversarialHistory`; ``truth`` ``(6,)`` physical.
    The predictive's chi2/bins (when logged) is one of the loss panels; a run whose output is not its
    last state (``select: best_chi2``) has its selected step marked by a dotted line on every panel.
    """
    if not runs:
        raise DataError("adversarial training plot: no runs given")
    loss_names = list(dict.fromkeys(name for run in runs.values() for name in run.losses))
    colors = {label: SEED_COLORS[i % len(SEED_COLORS)] for i, label in enumerate(runs)}
    with styled(style):
        fig = figure(10.0, 7.6, style)
        top, bottom = fig.subfigures(2, 1, height_ratios=(1.0, 2.0))
        loss_axes = np.atleast_1d(top.subplots(1, max(len(loss_names), 1), squeeze=False).ravel())
        for ax, name in zip(loss_axes, loss_names):
            for label, run in runs.items():
                if name not in run.losses:
                    continue
                values = run.losses[name]
                window = max(1, len(values) // 40)
                ax.plot(run.step, values, color=colors[label], alpha=0.25, lw=0.6)
                ax.plot(run.step, running_mean(values, window), color=colors[label], lw=1.2)
            ax.set_xlabel("training step")
            ax.set_ylabel(name if "chi2" in name else f"{name} loss")
            if "chi2" in name and all(np.nanmin(r.losses[name], initial=np.inf) > 0 for r in runs.values() if name in r.losses):
                ax.set_yscale("log")  # the predictive's chi2/bins falls by decades
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not loss_names:
            loss_axes[0].text(0.5, 0.5, "no losses logged", ha="center", va="center", transform=loss_axes[0].transAxes)
        param_axes = bottom.subplots(2, 3, sharex=True).ravel()
        mark_selected_steps(list(loss_axes) + list(param_axes), runs, colors)
        for i, ax in enumerate(param_axes):
            for label, run in runs.items():
                ax.plot(run.step, run.mean[:, i], color=colors[label], lw=1.2)
                if run.std is not None:
                    ax.fill_between(
                        run.step,
                        run.mean[:, i] - run.std[:, i],
                        run.mean[:, i] + run.std[:, i],
                        color=colors[label],
                        alpha=0.2,
                        lw=0,
                    )
            ax.axhline(truth[i], color=method_color("truth"), ls="--", lw=1.2)
            ax.set_ylabel(f"generated {param_label(i)}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i >= 3:
                ax.set_xlabel("training step")
        handles = [Line2D([], [], color=colors[label]) for label in runs] + [Line2D([], [], color=method_color("truth"), ls="--")]
        labels = list(runs) + [method_label("truth")]
        legend_outside(fig, handles, labels, ncol=min(len(labels), 6))
        if title:
            fig.suptitle(title)
    return fig


def plot_epoch_losses(
    runs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    style: PlotStyle,
    color: str = "#0072B2",
    ylabel: str = "loss (negative log density per example)",
    title: str = "",
) -> Figure:
    """Training (solid) and validation (dashed) loss per epoch for each run (e.g. per replica).

    ``runs``: label -> ``(train_loss (E,), validation_loss (E,))``; the epoch of lowest validation
    loss is marked. A single run is drawn in the method's ``color``.
    """
    if not runs:
        raise DataError("loss plot: no runs given")
    with styled(style):
        fig = figure(5.5, 4.0, style)
        ax = fig.add_subplot()
        handles, labels = [], []
        for i, (label, (train, val)) in enumerate(runs.items()):
            train, val = np.asarray(train, dtype=float), np.asarray(val, dtype=float)
            if train.ndim != 1 or val.ndim != 1 or len(train) == 0:
                raise DataError(
                    f"loss plot: run {label!r} needs 1-D training and validation losses, got {train.shape} and {val.shape}"
                )
            line = SEED_COLORS[(i + 1) % len(SEED_COLORS)] if len(runs) > 1 else color
            ax.plot(np.arange(1, len(train) + 1), train, color=line)
            if len(val):
                ax.plot(np.arange(1, len(val) + 1), val, color=line, ls="--")
                best = int(np.nanargmin(val))
                ax.plot(best + 1, val[best], "o", color=line, ms=4)
            handles.append(Line2D([], [], color=line))
            labels.append(label)
        handles += [
            Line2D([], [], color="0.3"),
            Line2D([], [], color="0.3", ls="--"),
            Line2D([], [], color="0.3", ls="", marker="o", ms=4),
        ]
        labels += ["training", "validation", "best epoch"]
        ax.legend(handles, labels, loc="upper right")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
    return fig
