"""Calendar periods in UTC for quotas and usage: a day, a week from Monday, a month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from bot.i18n import Text, _

__all__ = [
    "PERIODS",
    "PER_PERIOD",
    "THIS_PERIOD",
    "Period",
    "nominal_days",
    "parse_period",
    "period_end",
    "period_start",
]

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = get_args(Period)

# "5 images per day"; "used this week". Whole phrases: other languages don't build them alike.
PER_PERIOD: dict[str, Text] = {"day": _("per day"), "week": _("per week"), "month": _("per month")}
THIS_PERIOD: dict[str, Text] = {
    "day": _("this day"),
    "week": _("this week"),
    "month": _("this month"),
}

# Used only to compare limits of different periods (see quotas/rules.py); a month counts as
# the average Gregorian month so that "30 a month" and "1 a day" come out nearly equal.
_NOMINAL_DAYS: dict[Period, float] = {"day": 1.0, "week": 7.0, "month": 365.2425 / 12}


def parse_period(value: str) -> Period:
    """Return `value` as a Period, or raise ValueError naming the allowed ones."""
    for period in PERIODS:
        if value == period:
            return period
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {value!r}")


def nominal_days(period: Period) -> float:
    """Return the period's nominal length in days."""
    return _NOMINAL_DAYS[period]


def _start(period: Period, now: float) -> datetime:
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_start(period: Period, now: float) -> int:
    """Return the Unix second at which the period containing `now` began."""
    return int(_start(period, now).timestamp())


def period_end(period: Period, now: float) -> int:
    """Return the Unix second at which the period containing `now` ends (the next one starts)."""
    start = _start(period, now)
    if period == "day":
        end = start + timedelta(days=1)
    elif period == "week":
        end = start + timedelta(days=7)
    elif start.month == 12:
        end = start.replace(year=start.year + 1, month=1)
    else:
        end = start.replace(month=start.month + 1)
    return int(end.timestamp())
