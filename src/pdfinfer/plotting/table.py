"""The comparison metrics as tables: a PNG image (for slides and the report) and an HTML page.

A :class:`Table` is plain text cells; building them from the comparison's JSON happens in
:mod:`pdfinfer.plotting.load`, so this module only lays them out.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Sequence

from matplotlib.figure import Figure

from pdfinfer.errors import DataError
from pdfinfer.plotting.style import PlotStyle, figure, styled

ROW_HEIGHT_IN = 0.26
CHAR_WIDTH_IN = 0.075


@dataclass
class Table:
    """A titled table of text cells: ``columns`` (C,), ``rows`` (R, C), a note printed underneath."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    highlight: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise DataError(f"table {self.title!r}: row {i} has {len(row)} cells for {len(self.columns)} columns")

    def column_widths(self) -> list[int]:
        """Characters of the widest cell (or header) per column."""
        return [max([len(_plain(c))] + [len(_plain(r[j])) for r in self.rows]) for j, c in enumerate(self.columns)]


def _plain(text: str) -> str:
    return text.replace("$", "").replace("\\pm", "±").replace("\\", "")


def table_size(tables: Sequence[Table], font_size: float) -> tuple[float, float]:
    """Figure size in inches that fits ``tables`` at ``font_size`` points (deterministic)."""
    scale = font_size / 9.0
    width = max(sum(w + 2 for w in t.column_widths()) for t in tables) * CHAR_WIDTH_IN * scale + 0.4
    height = sum((len(t.rows) + 1) * ROW_HEIGHT_IN * scale + 0.55 + (0.25 if t.note else 0) for t in tables) + 0.1
    return max(width, 4.0), height


def plot_tables(tables: Sequence[Table], style: PlotStyle) -> Figure:
    """Render ``tables`` one under another as a figure of text cells."""
    if not tables:
        raise DataError("table image: no tables given")
    width, height = table_size(tables, style.font_size)
    with styled(style):
        fig = figure(width, height, style)
        heights = [len(t.rows) + 1 + 2.1 + (1 if t.note else 0) for t in tables]
        axes = fig.subplots(len(tables), 1, squeeze=False, height_ratios=heights).ravel()
        for ax, t in zip(axes, tables):
            ax.axis("off")
            ax.set_title(t.title, loc="left", fontweight="bold")
            widths = [w + 2 for w in t.column_widths()]
            total = sum(widths)
            table = ax.table(
                cellText=[[_plain(c) for c in row] for row in t.rows] or [["" for _ in t.columns]],
                colLabels=[_plain(c) for c in t.columns],
                colWidths=[w / total for w in widths],
                loc="upper center",
                cellLoc="center",
            )
            table.auto_set_font_size(False)
            table.set_fontsize(style.font_size * 0.85)
            for (r, c), cell in table.get_celld().items():
                cell.set_linewidth(0.3)
                cell.set_height(1.0 / (len(t.rows) + 1 + (1 if t.note else 0) + 0.3))
                if r == 0:
                    cell.set_facecolor("#e8e8e8")
                    cell.set_text_props(fontweight="bold")
                elif r - 1 in t.highlight:
                    cell.set_facecolor("#fff4e0")
            if t.note:
                ax.text(
                    0.0, 0.0, t.note, transform=ax.transAxes, fontsize=style.font_size * 0.75, va="bottom", color="0.3", wrap=True
                )
    return fig


def html_tables(tables: Sequence[Table], title: str) -> str:
    """A self-contained HTML page with ``tables``."""
    parts = [
        "<!DOCTYPE html>",
        "<html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;font-size:13px;margin:1em}table{border-collapse:collapse;margin-bottom:0.4em}"
        "th,td{border:1px solid #bbb;padding:3px 8px;text-align:center}th{background:#eee}"
        "tr.hl td{background:#fff4e0}p.note{color:#555;font-size:12px;margin-top:0}h2{font-size:15px}</style>",
        "</head><body>",
        f"<h1 style='font-size:17px'>{html.escape(title)}</h1>",
    ]
    for t in tables:
        parts.append(f"<h2>{html.escape(t.title)}</h2><table><thead><tr>")
        parts.extend(f"<th>{html.escape(_plain(c))}</th>" for c in t.columns)
        parts.append("</tr></thead><tbody>")
        for i, row in enumerate(t.rows):
            parts.append("<tr class='hl'>" if i in t.highlight else "<tr>")
            parts.extend(f"<td>{html.escape(_plain(c))}</td>" for c in row)
            parts.append("</tr>")
        parts.append("</tbody></table>")
        if t.note:
            parts.append(f"<p class='note'>{html.escape(t.note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
