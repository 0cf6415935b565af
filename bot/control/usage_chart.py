"""The PNG chart attached to `/imagine-admin usage`: images and credits per day, top members.

One picture of a `UsageReport` (bot/control/usage.py), in three parts: its words from the
report in the reader's language (bot/control/usage_chart_words.py), the fonts that can draw
them (bot/control/usage_chart_fonts.py), and the drawing, bars a day by member and a credits
line (bot/control/usage_chart_drawing.py). This module renders it to PNG bytes.

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

Words are in the admin's language (bot/i18n) when the machine has a font that draws it;
without one the chart is drawn in English rather than as boxes; the embed beside it is in the
admin's language either way.

No discord import here: the cog (cogs/admin/_cog.py) attaches the bytes.
"""

from __future__ import annotations

import gc
import io
import threading
from collections.abc import Mapping
from typing import Any

from bot.control.usage import UsageReport
from bot.control.usage_chart_drawing import MEMBER_COLOURS, draw_chart
from bot.control.usage_chart_fonts import drawable, families
from bot.control.usage_chart_words import ChartWords, member_labels, utc_day
from bot.i18n import ENGLISH, Lang

__all__ = [
    "CHART_DPI",
    "CHART_SIZE",
    "MEMBER_COLOURS",
    "chart_filename",
    "member_labels",
    "render_usage_chart",
]

# Pixels. Discord shows an embed's image at most about 400 px wide and opens it full size on a
# click: wide enough for 31 labelled days, with text sized for both.
CHART_SIZE = (1200, 600)
CHART_DPI = 100

_LOCK = threading.Lock()
# A PNG's default "Software" text names the matplotlib version; nothing else is written.
_NO_META: dict[str, Any] = {"Software": None}


def chart_filename(report: UsageReport) -> str:
    """Return the attachment's name, e.g. usage_month_2025-03-01.png."""
    return f"usage_{report.period}_{utc_day(report.start):%Y-%m-%d}.png"


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


def _render(report: UsageReport, names: Mapping[int, str] | None, lang: Lang = ENGLISH) -> bytes:
    """Draw and save the chart, without the lock and the collector pause (the bench times
    this alone, bench/usage_chart_bench.py)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    words = ChartWords(report, lang)
    if not drawable(words.all()):
        words = ChartWords(report, ENGLISH)
    width, height = CHART_SIZE
    # DejaVu Sans first, then a CJK font if one is installed (matplotlib falls back per glyph).
    with rc_context({"font.family": "sans-serif", "font.sans-serif": list(families())}):
        figure = Figure(figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI)
        FigureCanvasAgg(figure)
        draw_chart(figure, report, member_labels(report, names, words.lang), words)
        out = io.BytesIO()
        # No bbox="tight": the picture keeps exactly CHART_SIZE whatever its labels hold.
        figure.savefig(out, format="png", dpi=CHART_DPI, facecolor="white", metadata=_NO_META)
    figure.clear()  # cuts most of its reference cycles, so that far less waits for the collector
    return out.getvalue()
