"""Chart images for chat (PNG, matplotlib's Agg backend: no display, no GUI toolkit)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

__all__ = ["summary_chart"]

_BAR = "#2e7d32"
_LOW = "#c62828"
_LINE = "#1565c0"


def summary_chart(
    title: str,
    rate_title: str,
    rates: Sequence[tuple[str, float | None]],
    series_title: str,
    series: Sequence[tuple[str, float | None]],
    no_data: str,
) -> bytes:
    """Two panels: the reporting rate per unit (bars, %), and one figure over the months.

    Texts come translated from the caller; a month without data is a gap in the line.
    Figure() rather than pyplot: no global state, safe in a server.
    """
    figure = Figure(figsize=(8, 7.5), dpi=100, layout="constrained")
    figure.suptitle(title, fontsize=13)
    bars, line = figure.subplots(2, 1, height_ratios=(1.2, 1))

    names = [name for name, _ in rates] or [no_data]
    values = [value or 0.0 for _, value in rates] or [0.0]
    colours = [_BAR if v >= 80 else _LOW for v in values]
    positions = list(range(len(names)))
    bars.barh(positions, values, color=colours)
    bars.set_yticks(positions, labels=[_short(n) for n in names], fontsize=8)
    bars.invert_yaxis()
    bars.set_xlim(0, 100)
    bars.set_title(rate_title, fontsize=11)
    for position, value in zip(positions, values, strict=True):
        bars.text(min(value + 1, 88), position, f"{value:.0f}%", va="center", fontsize=8)
    bars.grid(axis="x", alpha=0.3)

    labels = [label for label, _ in series]
    points = [float("nan") if v is None else float(v) for _, v in series]
    line.plot(range(len(labels)), points, marker="o", color=_LINE)
    line.set_xticks(range(len(labels)), labels=labels, rotation=45, fontsize=8)
    line.set_title(series_title, fontsize=11)
    line.grid(alpha=0.3)
    line.set_ylim(bottom=0)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
