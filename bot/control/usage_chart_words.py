"""Every word of the usage chart (bot/control/usage_chart.py), from a report, in one language.

The title names the period; the subtitle gives the period's exact totals; the x axis has a
tick for every day of the period. Members are labelled by rank, as the embed lists them, with
the display name when the caller passes one the chart's fonts can draw ("#1 Alice",
"Member #2"). Sentences are gettext msgids (bot/i18n), rendered with the reader's `Lang`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bot.control.usage import SECONDS_PER_DAY, UsageReport
from bot.control.usage_chart_fonts import drawable
from bot.credits import format_credits
from bot.i18n import ENGLISH, Lang, Text, _, ngettext

__all__ = ["NAME_LIMIT", "ChartWords", "member_labels", "utc_day"]

NAME_LIMIT = 24


def utc_day(unix: int) -> datetime:
    """Return the UTC time of a Unix timestamp (the report's days start at UTC midnight)."""
    return datetime.fromtimestamp(unix, UTC)


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
    start = utc_day(report.start)
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
    day = utc_day(report.start + n * SECONDS_PER_DAY)
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
        return _("Day of {month} (UTC)", month=_MONTHS[utc_day(report.start).month - 1])
    return _("Day (UTC)")


class ChartWords:
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


def _printable(name: str) -> str:
    """Return the name cut to NAME_LIMIT, or "" if the chart's font lacks one of its glyphs.

    Display names may hold emoji or scripts the bundled DejaVu Sans lacks; a name drawn as
    boxes reads worse than "Member #1", so such a name is not used.
    """
    name = " ".join(name.split())
    if not name or not drawable(name):
        return ""
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"
