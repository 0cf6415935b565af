"""UTC calendar periods: days, weeks from Monday, months, and their edges."""

from __future__ import annotations

import pytest

from bot.control.periods import nominal_days, parse_period, period_end, period_start
from tests.control.helpers import ts

CASES = [
    # period, now, start, end
    ("day", "2025-03-10 23:59:59", "2025-03-10 00:00:00", "2025-03-11 00:00:00"),
    ("day", "2025-03-11 00:00:00", "2025-03-11 00:00:00", "2025-03-12 00:00:00"),
    ("week", "2025-03-16 23:59:59", "2025-03-10 00:00:00", "2025-03-17 00:00:00"),  # Sunday
    ("week", "2025-03-17 00:00:00", "2025-03-17 00:00:00", "2025-03-24 00:00:00"),  # Monday
    ("week", "2024-12-31 12:00:00", "2024-12-30 00:00:00", "2025-01-06 00:00:00"),
    ("month", "2025-01-31 23:59:59", "2025-01-01 00:00:00", "2025-02-01 00:00:00"),
    ("month", "2025-02-01 00:00:00", "2025-02-01 00:00:00", "2025-03-01 00:00:00"),
    ("month", "2024-02-29 10:00:00", "2024-02-01 00:00:00", "2024-03-01 00:00:00"),
    ("month", "2025-12-31 23:59:59", "2025-12-01 00:00:00", "2026-01-01 00:00:00"),
]


@pytest.mark.parametrize(("period", "now", "start", "end"), CASES)
def test_period_bounds(period, now, start, end) -> None:
    """Each period starts and ends on the UTC calendar boundary around `now`."""
    assert period_start(period, ts(now)) == ts(start)
    assert period_end(period, ts(now)) == ts(end)


def test_fractional_now_stays_in_its_period() -> None:
    """A time a fraction before midnight still belongs to the old day."""
    now = ts("2025-03-11 00:00:00") - 0.001
    assert period_start("day", now) == ts("2025-03-10 00:00:00")


def test_parse_period_rejects_unknown() -> None:
    """Only day, week and month are periods."""
    assert parse_period("week") == "week"
    with pytest.raises(ValueError, match="day, week, month"):
        parse_period("year")


def test_nominal_lengths_order() -> None:
    """A month is nominally longer than a week, which is longer than a day."""
    assert nominal_days("day") < nominal_days("week") < nominal_days("month")
