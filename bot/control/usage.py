"""What a guild spent in a calendar period, read from the jobs table alone.

Jobs count in the period their `finished_at` falls in. Images come from delivered jobs
(`images_delivered`). Credits are summed over every finished job, delivered or not, because
they are what kie billed and what the admin pays (kie reports 0 for a failed task, so this
normally equals the delivered jobs' credits).

Credits are summed exactly: the column holds whole thousandths of a credit (see
bot/credits.py), the database adds those integers, and the total becomes a Decimal here.

For the chart (bot/control/usage_chart.py) the report also holds the period day by day: each
UTC calendar day from the period's start through today, with its images and credits and the
images of each top member that day. Days are counted in SQL from `finished_at`, so a month of
jobs comes back as at most 31 rows per query, however many jobs it held.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.control.periods import Period, period_end, period_start
from bot.credits import from_thousandths
from bot.store.database import Connection

__all__ = ["SECONDS_PER_DAY", "DayUsage", "MemberUsage", "UsageReport", "usage"]

# UTC has no daylight saving and Unix time no leap seconds: every calendar day is this long.
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class MemberUsage:
    """One member's share of a period."""

    user_id: int
    images: int
    credits: Decimal


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One UTC calendar day of a period."""

    start: int  # the Unix second the day begins
    images: int
    credits: Decimal
    # Images each of the report's top members had delivered this day, in `top_members` order.
    member_images: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A guild's totals for one period, for `/imagine-admin usage`."""

    guild_id: int
    period: Period
    start: int
    end: int
    images: int
    credits: Decimal
    jobs: int
    failed_jobs: int
    top_members: tuple[MemberUsage, ...]
    # Every day from `start` through the day holding the report's `now`, oldest first.
    days: tuple[DayUsage, ...] = ()

    @property
    def period_days(self) -> int:
        """Return how many calendar days the whole period has (1, 7 or 28 to 31)."""
        return (self.end - self.start) // SECONDS_PER_DAY

    @property
    def is_empty(self) -> bool:
        """Return True when nothing was delivered and nothing was charged in the period."""
        return self.images == 0 and self.credits == 0


_TOTALS = """
SELECT COUNT(*) AS jobs,
       COALESCE(SUM(CASE WHEN state = 'delivered' THEN COALESCE(images_delivered, 0)
                         ELSE 0 END), 0) AS images,
       COALESCE(SUM(COALESCE(credits_consumed_milli, 0)), 0) AS credits_milli,
       COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) AS failed_jobs
FROM jobs
WHERE guild_id = $1 AND finished_at >= $2 AND finished_at < $3
"""

_TOP = """
SELECT user_id,
       SUM(CASE WHEN state = 'delivered' THEN COALESCE(images_delivered, 0) ELSE 0 END) AS images,
       SUM(COALESCE(credits_consumed_milli, 0)) AS credits_milli
FROM jobs
WHERE guild_id = $1 AND finished_at >= $2 AND finished_at < $3
GROUP BY user_id
ORDER BY images DESC, credits_milli DESC, user_id
LIMIT $4
"""


# The day a job finished in, counted from the period's start ($2). FLOOR is PostgreSQL's; SQLite
# may be built without it, and there CAST truncates, which is the floor of a number >= 0.
_DAY = {
    "postgresql": "CAST(FLOOR((finished_at - $2) / 86400) AS INTEGER)",
    "sqlite": "CAST((finished_at - $2) / 86400 AS INTEGER)",
}

_DAILY = """
SELECT {day} AS day,{member}
       SUM(CASE WHEN state = 'delivered' THEN COALESCE(images_delivered, 0) ELSE 0 END) AS images,
       SUM(COALESCE(credits_consumed_milli, 0)) AS credits_milli
FROM jobs
WHERE guild_id = $1 AND finished_at >= $2 AND finished_at < $3{only}
GROUP BY {group}
"""


async def _days(
    conn: Connection,
    guild_id: int,
    start: int,
    end: int,
    now: float,
    members: tuple[MemberUsage, ...],
) -> tuple[DayUsage, ...]:
    """Return each day of the period through today, with the top members' images per day."""
    day = _DAY[conn.dialect]
    totals = await conn.fetch(
        _DAILY.format(day=day, member="", only="", group="1"), guild_id, start, end
    )
    per_member: dict[tuple[int, int], int] = {}
    if members:
        ids = [m.user_id for m in members]
        # Constant placeholders $4, $5, …: the ids are parameters like every other value.
        only = f" AND user_id IN ({', '.join(f'${n}' for n in range(4, 4 + len(ids)))})"
        rows = await conn.fetch(
            _DAILY.format(day=day, member=" user_id,", only=only, group="1, 2"),
            guild_id,
            start,
            end,
            *ids,
        )
        per_member = {(int(r["day"]), int(r["user_id"])): int(r["images"]) for r in rows}
    by_day = {int(r["day"]): r for r in totals}
    # Through today (or a later day that already has jobs, if clocks disagree), within the period.
    today = int((now - start) // SECONDS_PER_DAY)
    through = min(max([today, *by_day]), (end - start) // SECONDS_PER_DAY - 1)
    days = []
    for n in range(max(through, 0) + 1):
        row = by_day.get(n)
        days.append(
            DayUsage(
                start=start + n * SECONDS_PER_DAY,
                images=int(row["images"]) if row else 0,
                credits=from_thousandths(int(row["credits_milli"]) if row else 0),
                member_images=tuple(per_member.get((n, m.user_id), 0) for m in members),
            )
        )
    return tuple(days)


async def usage(
    conn: Connection, guild_id: int, period: Period, now: float, *, top: int = 5
) -> UsageReport:
    """Return the guild's totals, top members and days for the period holding `now`."""
    start, end = period_start(period, now), period_end(period, now)
    totals = await conn.fetchrow(_TOTALS, guild_id, start, end)
    assert totals is not None  # an aggregate always returns one row
    rows = await conn.fetch(_TOP, guild_id, start, end, top)
    top_members = tuple(
        MemberUsage(
            int(row["user_id"]), int(row["images"]), from_thousandths(int(row["credits_milli"]))
        )
        for row in rows
        if row["images"] or row["credits_milli"]
    )
    return UsageReport(
        guild_id=guild_id,
        period=period,
        start=start,
        end=end,
        images=int(totals["images"]),
        credits=from_thousandths(int(totals["credits_milli"])),
        jobs=int(totals["jobs"]),
        failed_jobs=int(totals["failed_jobs"]),
        top_members=top_members,
        days=await _days(conn, guild_id, start, end, now, top_members),
    )
