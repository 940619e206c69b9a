"""One plotting style for every figure: backend, fonts, method colours and labels, saving.

Every figure module builds its figure with :func:`figure` (a fixed size in inches, constrained
layout, so a PNG is exactly ``width * dpi`` by ``height * dpi`` pixels) and writes it with
:func:`save`, which renders the same figure once per configured format (PNG for the report,
PDF for papers). Colours and legend labels of the methods come from the method registry
(:mod:`pdfinfer.methods`) and nowhere else, so a method looks the same in every figure.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from pdfinfer import methods  # noqa: E402
from pdfinfer.errors import ConfigError  # noqa: E402
from pdfinfer.io import atomic_path  # noqa: E402
from pdfinfer.methods import OBSERVED_COLOR, REPLICA_COLORS, TRUTH_COLOR  # noqa: E402
from pdfinfer.params import PARAM_LABELS, PARAM_NAMES  # noqa: E402

FORMATS = ("png", "pdf", "svg")

#: Colours and legend labels of what is not a method (methods: :mod:`pdfinfer.methods`).
OTHER_COLORS: dict[str, str] = {"observed": OBSERVED_COLOR, "truth": TRUTH_COLOR}
OTHER_LABELS: dict[str, str] = {"observed": "Observed", "truth": r"Truth $\theta^*$"}
#: Colours for replicas of one method (seeds, bootstrap runs), cycled.
SEED_COLORS: tuple[str, ...] = REPLICA_COLORS

#: Parameters are dimensionless; the label says which physical (not normalized) quantity is shown.
PARAM_AXIS_LABELS: tuple[str, ...] = PARAM_LABELS


@dataclass(frozen=True)
class PlotStyle:
    """Style settings shared by every figure (config section ``plots``)."""

    dpi: int = 120
    formats: tuple[str, ...] = ("png", "pdf")
    font_size: float = 9.0

    def __post_init__(self) -> None:
        if self.dpi < 10 or self.dpi > 1200:
            raise ConfigError(f"plots: dpi must lie in [10, 1200], got {self.dpi}")
        if self.font_size <= 0:
            raise ConfigError(f"plots: font_size must be positive, got {self.font_size}")
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ConfigError(f"plots: formats must be a non-empty list from {list(FORMATS)}, got {list(self.formats)}")


def method_color(method: str) -> str:
    """Colour of a registered method, of ``observed`` or ``truth`` (grey for other names)."""
    return OTHER_COLORS.get(method) or methods.color(method)


def method_label(method: str) -> str:
    """Legend label of a registered method, of ``observed`` or ``truth`` (else the name itself)."""
    return OTHER_LABELS.get(method) or methods.title(method)


def sort_methods(labels: Sequence[str]) -> list[str]:
    """``labels`` in drawing order: registry order (the referee first, underneath), then the rest."""
    return methods.order(labels)


def param_label(index: int) -> str:
    """Axis label of physical parameter ``index`` (0..5), e.g. ``$N_u$``."""
    return PARAM_AXIS_LABELS[index]


def param_name(index: int) -> str:
    """Plain name of parameter ``index`` (0..5), e.g. ``N_u``."""
    return PARAM_NAMES[index]


#: Units of the event features by their base name (``x`` is dimensionless).
FEATURE_UNITS = {"Q2": r"GeV$^2$"}


def feature_label(name: str) -> str:
    """Axis label of an event feature ``<base>_<target>``: ``x_p`` -> ``$x_p$``, ``Q2_n`` -> ``$Q^2_n$ [GeV$^2$]``."""
    base, _, target = name.partition("_")
    symbol = {"Q2": "Q^2"}.get(base, base)
    text = f"${symbol}_{{{target}}}$" if target else f"${symbol}$"
    unit = FEATURE_UNITS.get(base)
    return f"{text} [{unit}]" if unit else text


def rc_params(style: PlotStyle) -> dict[str, object]:
    """Matplotlib rc settings of ``style``."""
    size = style.font_size
    return {
        "font.size": size,
        "axes.titlesize": size,
        "axes.labelsize": size,
        "xtick.labelsize": size * 0.85,
        "ytick.labelsize": size * 0.85,
        "legend.fontsize": size * 0.85,
        "legend.frameon": False,
        "axes.grid": False,
        "axes.spines.top": True,
        "axes.spines.right": True,
        "xtick.direction": "in",
        "ytick.direction": "in",
        "xtick.top": True,
        "ytick.right": True,
        "lines.linewidth": 1.3,
        "savefig.dpi": style.dpi,
        "figure.dpi": style.dpi,
        "mathtext.fontset": "dejavusans",
        "pdf.fonttype": 42,
    }


@contextmanager
def styled(style: PlotStyle) -> Iterator[None]:
    """Context in which figures are drawn with ``style``."""
    with plt.rc_context(rc_params(style)):
        yield


def figure(width: float, height: float, style: PlotStyle, layout: str | None = "constrained") -> Figure:
    """A new figure of ``width`` x ``height`` inches (call inside :func:`styled`).

    Constrained layout by default; ``layout=None`` for grids that place their axes themselves
    (the corner plot, where constrained layout of 21 axes costs seconds per format).
    """
    return plt.figure(figsize=(width, height), dpi=style.dpi, layout=layout)


def output_paths(out: str | os.PathLike[str], style: PlotStyle) -> list[Path]:
    """The files :func:`save` writes for ``out``: ``out`` with each configured format's suffix."""
    out = Path(out)
    return [out.with_suffix(f".{fmt}") for fmt in style.formats]


def save(fig: Figure, out: str | os.PathLike[str], style: PlotStyle) -> list[Path]:
    """Write ``fig`` once per configured format (``out`` with suffix ``.png``, ``.pdf``...), atomically.

    The pixel size of the PNG is exactly the figure size times ``style.dpi`` (no tight bbox).
    Returns the written paths and closes the figure.
    """
    written = []
    try:
        for path in output_paths(out, style):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix[1:], dpi=style.dpi, metadata=_metadata(path.suffix[1:]))
            written.append(path)
    finally:
        plt.close(fig)
    return written


def _metadata(fmt: str) -> dict[str, object] | None:
    # Reproducible files: no creation date in PDFs/SVGs, a fixed software tag in PNGs.
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "pdfinfer"}
    if fmt == "svg":
        return {"Date": None, "Creator": "pdfinfer"}
    return {"Software": "pdfinfer"}


def log_axis(axis, lo: float, hi: float) -> None:
    """Log scale on ``axis`` (``ax.xaxis``/``ax.yaxis``) with plain-number labels (0.1, 0.2, 0.5...).

    Within about a decade the ticks are at 1, 2, 3, 5 times powers of ten, over wider ranges at
    powers of ten only; minor ticks stay unlabelled.
    """
    axis._set_axes_scale("log")
    subs = (1.0, 2.0, 3.0, 5.0) if hi / lo < 30 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def legend_outside(fig: Figure, handles: Sequence[object], labels: Sequence[str], ncol: int | None = None) -> None:
    """One legend for the whole figure, below the panels (constrained layout makes room)."""
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol or len(labels), frameon=False)
