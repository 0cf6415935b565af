"""Draw the usage chart (bot/control/usage_chart.py) on a matplotlib figure.

One bar a day for the images delivered, split by top member (the rest of the server in grey),
and the credits spent each day as a line on a second axis at the right. The x axis has every
day of the period, so a month that has just begun shows its empty remaining days; bars and
the line stop at today. The words come ready-made (bot/control/usage_chart_words.py).
matplotlib is imported when drawing, not when this module is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.control.usage import UsageReport
from bot.control.usage_chart_words import ChartWords
from bot.credits import format_credits

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BAR_WIDTH", "CREDITS_COLOUR", "MEMBER_COLOURS", "OTHERS_COLOUR", "draw_chart"]

# Okabe–Ito colours (told apart with any colour vision), then grey for everyone else.
MEMBER_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
OTHERS_COLOUR = "#BBBBBB"
CREDITS_COLOUR = "#222222"
BAR_WIDTH = 0.7


def draw_chart(
    figure: Figure, report: UsageReport, labels: Sequence[str], words: ChartWords
) -> None:
    """Draw `report` on `figure`: bars by member under `labels`, the credits line, the text."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure.subplots_adjust(left=0.07, right=0.91, top=0.74, bottom=0.12)
    images_axis = figure.add_subplot()
    credits_axis = images_axis.twinx()
    # The line over the bars, on an axis whose background lets the bars show through.
    images_axis.set_zorder(credits_axis.get_zorder() - 1)
    images_axis.patch.set_visible(True)
    credits_axis.patch.set_visible(False)

    days = report.days
    xs = list(range(len(days)))
    bottoms = [0] * len(days)
    handles: list[Any] = []
    for n, label in enumerate(labels):
        heights = [day.member_images[n] if n < len(day.member_images) else 0 for day in days]
        colour = MEMBER_COLOURS[n % len(MEMBER_COLOURS)]
        handles.append(_bars(images_axis, heights, bottoms, colour, _literal(label)))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    others = [max(day.images - b, 0) for day, b in zip(days, bottoms, strict=True)]
    if any(others) or not labels:
        label = words.everyone_else if labels else words.images
        handles.append(_bars(images_axis, others, bottoms, OTHERS_COLOUR, label))
    (line,) = credits_axis.plot(
        xs,
        [float(day.credits) for day in days],  # drawing only: the subtitle and embed are exact
        color=CREDITS_COLOUR,
        linewidth=2.2,
        marker="o",
        markersize=5 if len(days) > 7 else 7,
        markerfacecolor="white",
        label=words.credits_line,
        zorder=3,
    )
    handles.append(line)

    if len(days) <= 7:  # few days: write each day's figures on its bar and on the line
        for x, day in zip(xs, days, strict=True):
            if day.images:
                # On the line's axis (drawn above the bars' one), placed by the bars' scale,
                # so the line never crosses the figure.
                _label(credits_axis, x, day.images, str(day.images), at=images_axis.transData)
            if day.credits:
                _label(
                    credits_axis, x, float(day.credits), format_credits(day.credits), beside=True
                )

    period_days = report.period_days
    # At least a week's width, so the bar of a single day isn't a wall.
    margin = 0.6 + max(7 - period_days, 0) / 2
    images_axis.set_xlim(-margin, period_days - 1 + margin)
    positions = list(range(period_days))
    images_axis.set_xticks(positions, words.ticks, fontsize=10)
    images_axis.set_xlabel(words.x_title, fontsize=11)
    images_axis.set_ylabel(words.images_axis, fontsize=12)
    credits_axis.set_ylabel(words.credits_axis, fontsize=12)
    # More headroom on the images axis than on the credits one: as a day's credits follow its
    # images, the line then runs above the bars instead of through their tops and labels.
    top_images = max(day.images for day in days) if days else 0
    images_axis.set_ylim(0, max(top_images, 1) * 1.4)
    top_credits = max(float(day.credits) for day in days) if days else 0.0
    credits_axis.set_ylim(0, max(top_credits, 1.0) * 1.12)
    images_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    credits_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    images_axis.grid(axis="y", color="#E5E5E5", zorder=0)
    images_axis.set_axisbelow(True)
    for axis in (images_axis, credits_axis):
        axis.spines["top"].set_visible(False)
        axis.tick_params(labelsize=10)

    figure.suptitle(words.title, x=0.07, y=0.97, ha="left", fontsize=17, fontweight="bold")
    figure.text(0.07, 0.875, words.subtitle, ha="left", fontsize=12, color="#444444")
    columns = min(len(handles), 4)
    figure.legend(
        handles=_row_major(handles, columns),
        loc="upper left",
        bbox_to_anchor=(0.065, 0.84),
        ncol=columns,
        frameon=False,
        fontsize=11,
        handlelength=1.4,
        columnspacing=1.6,
    )


def _row_major(items: Sequence[Any], columns: int) -> list[Any]:
    """Order items so a legend, which fills column by column, reads left to right.

    matplotlib gives the first columns the extra entries, so the short row is the last one.
    """
    rows = -(-len(items) // columns)
    return [
        items[r * columns + c]
        for c in range(columns)
        for r in range(rows)
        if r * columns + c < len(items)
    ]


def _bars(axis: Any, heights: list[int], bottoms: list[int], colour: str, label: str) -> Any:
    """Draw one layer of the stacked bars; return its legend entry.

    One collection of rectangles rather than `Axes.bar`, which makes an artist per bar and
    updates the axis limits for each: this halves the render of a month (the limits are set
    explicitly anyway).
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    half = BAR_WIDTH / 2
    rectangles = [
        [
            (x - half, bottom),
            (x - half, bottom + height),
            (x + half, bottom + height),
            (x + half, bottom),
        ]
        for x, (height, bottom) in enumerate(zip(heights, bottoms, strict=True))
        if height
    ]
    axis.add_collection(
        PolyCollection(rectangles, facecolors=colour, edgecolors="none", zorder=2),
        autolim=False,
    )
    return Patch(facecolor=colour, label=label)


def _label(
    axis: Any, x: float, y: float, text: str, *, beside: bool = False, at: Any = "data"
) -> None:
    """Write a figure above a bar, or beside a point of the line, on a white ground."""
    axis.annotate(
        text,
        (x, y),
        xycoords=at,
        xytext=(7, 4) if beside else (0, 6),
        textcoords="offset points",
        ha="left" if beside else "center",
        va="bottom",
        fontsize=11,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        zorder=4,
    )


def _literal(text: str) -> str:
    """Return text matplotlib draws as written: a "$" would otherwise start math."""
    return text.replace("$", r"\$")
