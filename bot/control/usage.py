"""What a guild spent in a calendar period, read from the jobs table alone.

Jobs count in the period their `finished_at` falls in. Images come from delivered jobs
(`images_delivered`). Credits are summed over every finished job, delivered or not, because
they are what kie billed and what the admin pays (kie reports 0 for a failed task, so this
normally equals the delivered jobs' credits).

Credits are summed exactly: the column holds whole thousandths of a credit (see
bot/credits.py), the database adds those integers, and the total becomes a Decimal here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.control.periods import Period, period_end, period_start
from bot.credits import from_thousandths
from bot.store.database import Connection

__all__ = ["MemberUsage", "UsageReport", "usage"]


@dataclass(frozen=True, slots=True)
class MemberUsage:
    """One member's share of a period."""

    user_id: int
    images: int
    credits: Decimal


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


async def usage(
    conn: Connection, guild_id: int, period: Period, now: float, *, top: int = 5
) -> UsageReport:
    """Return the guild's images, credits, jobs and top members for the period holding `now`."""
    start, end = period_start(period, now), period_end(period, now)
    totals = await conn.fetchrow(_TOTALS, guild_id, start, end)
    assert totals is not None  # an aggregate always returns one row
    rows = await conn.fetch(_TOP, guild_id, start, end, top)
    return UsageReport(
        guild_id=guild_id,
        period=period,
        start=start,
        end=end,
        images=int(totals["images"]),
        credits=from_thousandths(int(totals["credits_milli"])),
        jobs=int(totals["jobs"]),
        failed_jobs=int(totals["failed_jobs"]),
        top_members=tuple(
            MemberUsage(
                int(row["user_id"]), int(row["images"]), from_thousandths(int(row["credits_milli"]))
            )
            for row in rows
            if row["images"] or row["credits_milli"]
        ),
    )
