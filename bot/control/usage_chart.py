"""The PNG chart attached to `/imagine-admin usage`: images and credits per day, top members.

One picture of a `UsageReport` (bot/control/usage.py): one bar a day for the images delivered,
split by top member (the rest of the server in grey), and the credits spent each day as a line
on a second axis at the right. The x axis has every day of the period, so a month that has
just begun shows its empty remaining days; bars and the line stop at today. The title names
the period; the subtitle gives the period's exact totals. Members are labelled by rank, as the
embed lists them, with the display name when the caller passes one ("#1 Alice", "Member #2").

Drawn with matplotlib's Agg backend through `matplotlib.figure.Figure` and `FigureCanvasAgg`,
never pyplot: pyplot keeps global state (current figure, the backend chosen at first use) that
is unsafe when several threads draw. Rendering is CPU work (a few tenths of a second), so
callers run it on a worker thread, never on the event loop; a module lock keeps two renders
from running at once, since matplotlib's font and text caches are shared by the whole process.
matplotlib is imported on the first render, not when this module is, so a bot that never draws
a chart doesn't pay for it (bench/usage_chart_bench.py measures the import, a render, the
memory and the event loop's lag while a chart is drawn).

The worker thread shares the GIL with the event loop, and a matplotlib figure is thousands of
objects in reference cycles: left to the cyclic collector they survive into its oldest
generation, and the full collection they bring on walks every object of the bot while holding
the GIL (measured: pauses of a few hundred ms on a loaded 2-core machine). So a render runs
with the collector paused and ends with a young-generation pass that frees the whole figure in
a few ms; the figure is cleared after saving, which breaks half of its cycles before that.

Words are in the admin's language (bot/i18n) when the machine has a font that draws it:
matplotlib's own DejaVu Sans has no Chinese, so a chart in Chinese needs a CJK font installed
(any of `_CJK_FAMILIES`). Without one the chart is drawn in English rather than as boxes; the
embed beside it is in the admin's language either way.

No discord import here: the cog (cogs/admin/_cog.py) attaches the bytes.
"""

from __future__ import annotations

import gc
import io
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from bot.control.usage import SECONDS_PER_DAY, UsageReport
from bot.credits import format_credits
from bot.i18n import ENGLISH, Lang, Text, _, ngettext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CHART_DPI", "CHART_SIZE", "chart_filename", "member_labels", "render_usage_chart"]

# Pixels. Discord shows an embed's image at most about 400 px wide and opens it full size on a
# click: wide enough for 31 labelled days, with text sized for both.
CHART_SIZE = (1200, 600)
CHART_DPI = 100

# Okabe–Ito colours (told apart with any colour vision), then grey for everyone else.
MEMBER_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
OTHERS_COLOUR = "#BBBBBB"
CREDITS_COLOUR = "#222222"
NAME_LIMIT = 24
BAR_WIDTH = 0.7

_LOCK = threading.Lock()


def chart_filename(report: UsageReport) -> str:
    """Return the attachment's name, e.g. usage_month_2025-03-01.png."""
    return f"usage_{report.period}_{_day(report.start):%Y-%m-%d}.png"


def member_labels(
    report: UsageReport, names: Mapping[int, str] | None = None, lang: Lang = ENGLISH
) -> list[str]:
    """Return "#1 Alice" for each top member with a usable name, else "Member #1"."""
    names = names or {}
    labels = []
    for rank, member in enumerate(report.top_members, start=1):
        name = _printable(names.get(member.user_id, ""))
        labels.append(f"#{rank} {name}" if name else lang(_("Member #{rank}", rank=rank)))
    return labels


def render_usage_chart(
    report: UsageReport, names: Mapping[int, str] | None = None, lang: Lang = ENGLISH
) -> bytes:
    """Return the report's chart as PNG bytes, CHART_SIZE pixels (blocking: use a thread).

    `names` maps user ids to display names; members without one are labelled by rank.
    `lang` is the reader's language, used if the chart's fonts can draw it (else English).
    Raises ValueError for an empty report: say so in text instead of drawing nothing.
    """
    if report.is_empty:
        raise ValueError("nothing was delivered or charged in this period: no chart to draw")
    with _LOCK:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return _render(report, names, lang)
        finally:
            # The figure's garbage is cyclic and still young: free it here, on this thread,
            # in a young-generation pass of a few ms.
            gc.collect(0)
            if enabled:
                gc.enable()


def _render(report: UsageReport, names: Mapping[int, str] | None, lang: Lang) -> bytes:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    words = _Words(report, lang)
    if not _drawable(words.all()):
        words = _Words(report, ENGLISH)
    width, height = CHART_SIZE
    # DejaVu Sans first, then a CJK font if one is installed (matplotlib falls back per glyph).
    with rc_context({"font.family": "sans-serif", "font.sans-serif": list(_families())}):
        figure = Figure(figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI)
        FigureCanvasAgg(figure)
        _draw(figure, report, member_labels(report, names, words.lang), words)
        out = io.BytesIO()
        # No bbox="tight": the picture keeps exactly CHART_SIZE whatever its labels hold.
        figure.savefig(out, format="png", dpi=CHART_DPI, facecolor="white", metadata=_NO_META)
    figure.clear()  # cuts most of its reference cycles, so that far less waits for the collector
    return out.getvalue()


# A PNG's default "Software" text names the matplotlib version; nothing else is written.
_NO_META: dict[str, Any] = {"Software": None}


def _draw(figure: Figure, report: UsageReport, labels: Sequence[str], words: _Words) -> None:
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


def _day(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


_WEEKDAYS = (
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
)
_SHORT_WEEKDAYS = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
_MONTHS = (
    _("January"),
    _("February"),
    _("March"),
    _("April"),
    _("May"),
    _("June"),
    _("July"),
    _("August"),
    _("September"),
    _("October"),
    _("November"),
    _("December"),
)
_SHORT_MONTHS = (
    _("Jan"),
    _("Feb"),
    _("Mar"),
    _("Apr"),
    _("May"),
    _("Jun"),
    _("Jul"),
    _("Aug"),
    _("Sep"),
    _("Oct"),
    _("Nov"),
    _("Dec"),
)
_SO_FAR = {
    "day": _("Today so far"),
    "week": _("This week so far"),
    "month": _("This month so far"),
}


def _title(report: UsageReport) -> Text:
    start = _day(report.start)
    month = _MONTHS[start.month - 1]
    if report.period == "day":
        return _(
            "Images and credits per day, {weekday} {day} {month} {year} (UTC)",
            weekday=_WEEKDAYS[start.weekday()],
            day=start.day,
            month=month,
            year=start.year,
        )
    if report.period == "week":
        return _(
            "Images and credits per day, week of {day} {month} {year} (UTC)",
            day=start.day,
            month=month,
            year=start.year,
        )
    return _("Images and credits per day, {month} {year} (UTC)", month=month, year=start.year)


def _subtitle(report: UsageReport) -> Text:
    return ngettext(
        "{so_far} · {n} image delivered · {credits} credits spent",
        "{so_far} · {n} images delivered · {credits} credits spent",
        report.images,
        so_far=_SO_FAR[report.period],
        credits=format_credits(report.credits),
    )


def _tick(report: UsageReport, n: int) -> Text | str:
    day = _day(report.start + n * SECONDS_PER_DAY)
    if report.period == "month":
        return str(day.day)
    weekday = _SHORT_WEEKDAYS[day.weekday()]
    # The month on the first day shown and where a week runs into the next month.
    if n == 0 or day.day == 1:
        return _(
            "{weekday} {day} {month}",
            weekday=weekday,
            day=day.day,
            month=_SHORT_MONTHS[day.month - 1],
        )
    return _("{weekday} {day}", weekday=weekday, day=day.day)


def _x_title(report: UsageReport) -> Text:
    if report.period == "month":
        return _("Day of {month} (UTC)", month=_MONTHS[_day(report.start).month - 1])
    return _("Day (UTC)")


class _Words:
    """Every word of one chart, in one language."""

    def __init__(self, report: UsageReport, lang: Lang) -> None:
        self.lang = lang
        self.title = lang(_title(report))
        self.subtitle = lang(_subtitle(report))
        ticks = (_tick(report, n) for n in range(report.period_days))
        self.ticks = [t if isinstance(t, str) else lang(t) for t in ticks]
        self.x_title = lang(_x_title(report))
        self.images_axis = lang(_("Images delivered"))
        self.credits_axis = lang(_("Credits spent"))
        self.credits_line = lang(_("Credits (right axis)"))
        self.everyone_else = lang(_("Everyone else"))
        self.images = lang(_("Images"))
        self.member = lang(_("Member #{rank}", rank=1))

    def all(self) -> str:
        """Return every character the chart will draw (member names aside)."""
        fixed = [self.title, self.subtitle, self.x_title, self.images_axis, self.credits_axis]
        fixed += [self.credits_line, self.everyone_else, self.images, self.member]
        return "".join(fixed + self.ticks)


def _literal(text: str) -> str:
    """Return text matplotlib draws as written: a "$" would otherwise start math."""
    return text.replace("$", r"\$")


def _printable(name: str) -> str:
    """Return the name cut to NAME_LIMIT, or "" if the chart's font lacks one of its glyphs.

    Display names may hold emoji or scripts the bundled DejaVu Sans lacks; a name drawn as
    boxes reads worse than "Member #1", so such a name is not used.
    """
    name = " ".join(name.split())
    if not name:
        return ""
    glyphs = _glyphs()
    if any(ord(ch) not in glyphs for ch in name):
        return ""
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"


# Fonts that draw Simplified Chinese, tried in order: the first installed one backs DejaVu Sans.
_CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)


@cache
def _families() -> tuple[str, ...]:
    """Return the chart's fonts: DejaVu Sans, then the first CJK font installed, if any."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    cjk = next((family for family in _CJK_FAMILIES if family in installed), None)
    return ("DejaVu Sans", cjk) if cjk else ("DejaVu Sans",)


@cache
def _glyphs() -> frozenset[int]:
    """Return the code points the chart's fonts can draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    points: set[int] = set()
    for family in _families():
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        points.update(FT2Font(path).get_charmap())
    return frozenset(points)


def _drawable(text: str) -> bool:
    """Return whether the chart's fonts draw every character of `text`."""
    glyphs = _glyphs()
    return all(ord(ch) in glyphs for ch in text if not ch.isspace())
