"""The usage chart: a PNG of the right size, drawn the same from any thread, never empty."""

from __future__ import annotations

import gc
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal

import pytest
from PIL import Image

from bot.control import usage_chart, usage_chart_fonts, usage_chart_words
from bot.control.usage import DayUsage, MemberUsage, UsageReport
from bot.control.usage_chart import (
    CHART_SIZE,
    MEMBER_COLOURS,
    chart_filename,
    member_labels,
    render_usage_chart,
)
from bot.i18n import ENGLISH, chinese
from tests.control.helpers import ts

MARCH = int(ts("2025-03-01 00:00:00"))
APRIL = int(ts("2025-04-01 00:00:00"))
WEEK = int(ts("2025-03-10 00:00:00"))
DAY = 86_400


def month(days: int = 12) -> UsageReport:
    """Return March through the `days`th: three top members and others, fractional credits."""
    rows = []
    for n in range(days):
        shares = (n % 4, (n * 2) % 5, 1 if n % 3 == 0 else 0)
        images = sum(shares) + n % 2
        rows.append(DayUsage(MARCH + n * DAY, images, Decimal(images * 5) + Decimal("0.8"), shares))
    members = tuple(
        MemberUsage(100 + m, sum(d.member_images[m] for d in rows), Decimal(0)) for m in range(3)
    )
    return UsageReport(
        guild_id=1,
        period="month",
        start=MARCH,
        end=APRIL,
        images=sum(d.images for d in rows),
        credits=sum((d.credits for d in rows), Decimal(0)),
        jobs=40,
        failed_jobs=1,
        top_members=members,
        days=tuple(rows),
    )


def png(data: bytes) -> Image.Image:
    """Open PNG bytes, checking they are one."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def colours(image: Image.Image) -> set[tuple[int, ...]]:
    """Return the RGB colours the image holds."""
    found = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert found is not None
    return {tuple(colour) for _, colour in found if isinstance(colour, tuple)}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def test_a_month_with_several_days_and_members_is_a_png_of_the_chart_size() -> None:
    """The PNG opens with Pillow, has CHART_SIZE pixels, and shows each member's colour."""
    image = png(render_usage_chart(month(), {100: "Alice", 101: "Bob"}))
    assert image.size == CHART_SIZE
    shown = colours(image)
    for colour in MEMBER_COLOURS[:3]:
        assert rgb(colour) in shown, f"no bar in {colour}"
    assert len(shown) > 20  # text, lines and bars, not a blank canvas


@pytest.mark.parametrize(
    ("period", "start", "end", "days"),
    [("week", WEEK, WEEK + 7 * DAY, 3), ("day", WEEK, WEEK + DAY, 1), ("month", MARCH, APRIL, 31)],
)
def test_every_period_draws_at_the_same_size(period: str, start: int, end: int, days: int) -> None:
    """A week, a single day and a whole month all give a CHART_SIZE PNG."""
    rows = tuple(
        DayUsage(start + n * DAY, n + 1, Decimal(5 * n + 5), (n + 1,)) for n in range(days)
    )
    report = UsageReport(
        guild_id=1,
        period=period,  # type: ignore[arg-type]
        start=start,
        end=end,
        images=sum(d.images for d in rows),
        credits=sum((d.credits for d in rows), Decimal(0)),
        jobs=days,
        failed_jobs=0,
        top_members=(MemberUsage(7, sum(d.images for d in rows), Decimal(0)),),
        days=rows,
    )
    assert png(render_usage_chart(report)).size == CHART_SIZE


def test_credits_without_images_still_draw() -> None:
    """A period where kie charged for tasks that delivered nothing shows its credits line."""
    report = replace(
        month(2),
        images=0,
        days=tuple(replace(d, images=0, member_images=(0, 0, 0)) for d in month(2).days),
    )
    assert png(render_usage_chart(report)).size == CHART_SIZE


def test_an_empty_period_has_no_chart() -> None:
    """Nothing delivered and nothing charged: no chart is drawn (the embed says so in text)."""
    empty = UsageReport(1, "day", WEEK, WEEK + DAY, 0, Decimal(0), 2, 2, (), ())
    assert empty.is_empty
    with pytest.raises(ValueError, match="no chart"):
        render_usage_chart(empty)


def test_renders_from_several_threads_at_once_are_identical() -> None:
    """Four threads drawing at once each get the very bytes a lone render gives."""
    report = month()
    alone = render_usage_chart(report, {100: "Alice"})
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: render_usage_chart(report, {100: "Alice"}), range(8)))
    assert all(result == alone for result in results)


def test_the_collector_is_on_again_after_a_render() -> None:
    """The cyclic collector paused for a render is back on afterwards, even after an error."""
    assert gc.isenabled()
    render_usage_chart(month())
    assert gc.isenabled()
    broken = replace(month(), days=(DayUsage(MARCH, 1, Decimal("NaN"), (1, 0, 0)),))
    with pytest.raises(ValueError):
        render_usage_chart(broken)
    assert gc.isenabled()


def test_member_labels_use_names_the_font_can_draw() -> None:
    """Names are used when given and drawable; otherwise members are labelled by rank."""
    report = replace(
        month(),
        top_members=tuple(MemberUsage(n, 10 - n, Decimal(0)) for n in range(1, 6)),
    )
    labels = member_labels(
        report,
        {
            1: "Alice",
            2: "测试",  # not in the bundled font: boxes would read worse than a rank
            3: "  A   very long display name indeed, too long  ",
            5: "$5 tips",
        },
    )
    assert labels == [
        "#1 Alice",
        "Member #2",
        "#3 A very long display nam…",  # 24 characters in all
        "Member #4",
        "#5 $5 tips",
    ]
    assert member_labels(report) == [f"Member #{n}" for n in range(1, 6)]


def test_a_name_with_dollars_is_drawn_literally() -> None:
    """A "$" in a display name doesn't start matplotlib's math text (which would fail)."""
    report = month()
    assert png(render_usage_chart(report, {100: "$x^2$ and $", 101: r"back\slash"})).size == (
        CHART_SIZE
    )


def test_chart_filename_names_the_period_and_its_start() -> None:
    """usage_<period>_<first day>.png, as the message's attachment."""
    assert chart_filename(month()) == "usage_month_2025-03-01.png"


def test_the_chart_speaks_chinese_when_a_font_can_draw_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Words follow the admin's language; with no CJK font installed, English, never boxes."""
    report = replace(month(), period="week", start=WEEK, end=WEEK + 7 * DAY)
    words = usage_chart_words.ChartWords(report, chinese())
    assert words.title == "每日图片与积分：2025年3月10日起的一周（UTC）"
    assert words.ticks[0] == "3月10日 周一" and words.ticks[1] == "11日 周二"
    assert words.subtitle.startswith("本周截至目前 · 已发出 ")
    english = usage_chart_words.ChartWords(report, ENGLISH)
    assert english.title == "Images and credits per day, week of 10 March 2025 (UTC)"
    assert english.ticks[:2] == ["Mon 10 Mar", "Tue 11"]

    drawn: list[str] = []

    def draw(figure: object, report: UsageReport, labels: object, words: object) -> None:
        drawn.append(words.title)  # type: ignore[attr-defined]

    monkeypatch.setattr(usage_chart, "draw_chart", draw)
    render_usage_chart(report, lang=chinese())
    cjk = len(usage_chart_fonts.families()) > 1
    assert drawn == [words.title if cjk else english.title]
    monkeypatch.setattr(usage_chart, "drawable", lambda text: True)
    render_usage_chart(report, lang=chinese())
    assert drawn[-1] == words.title
