"""Usage reports: totals and top members from jobs rows, per calendar period."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from bot.control.usage import MemberUsage, usage
from bot.credits import to_thousandths
from bot.jobs.models import Job, JobOptions, JobState
from bot.jobs.store import JobStore
from bot.kie import ImageSize, Resolution
from bot.store.database import Database
from tests.control.helpers import GUILD, ts

NOW = ts("2025-03-12 12:00:00")  # Wednesday
_ids = itertools.count()


async def add_job(
    db: Database,
    *,
    user: int,
    state: str = "delivered",
    images: int | None = 1,
    credits: Decimal | float | None = 5.0,
    finished: str | None = "2025-03-12 10:00:00",
    guild: int = GUILD,
) -> None:
    """Insert one jobs row as the job engine would leave it."""
    job = next(_ids)
    await db.execute(
        "INSERT INTO jobs (id, callback_token, guild_id, channel_id, user_id, state, prompt,"
        " image_size, resolution, images, created_at, updated_at, finished_at,"
        " images_delivered, credits_consumed_milli)"
        " VALUES ($1, $2, $3, 1, $4, $5, 'p', 'square_hd', '1K', 4, 0, 0, $6, $7, $8)",
        f"job-{job}",
        f"token-{job}",
        guild,
        user,
        state,
        None if finished is None else ts(finished),
        images,
        None if credits is None else to_thousandths(credits),
    )


async def seed(db: Database) -> None:
    """Insert jobs across periods, states, guilds and members."""
    await add_job(db, user=1, images=4, credits=20.0)
    await add_job(db, user=1, images=2, credits=10.0, finished="2025-03-12 00:00:00")
    await add_job(db, user=2, images=3, credits=15.0, finished="2025-03-10 00:00:00")  # Monday
    await add_job(db, user=3, images=1, credits=5.0, finished="2025-03-01 00:00:00")
    await add_job(db, user=2, state="failed", images=None, credits=0.0)
    await add_job(db, user=3, state="failed", images=None, credits=None)
    await add_job(db, user=4, state="cancelled", images=None, credits=None)
    await add_job(db, user=5, images=6, credits=30.0, finished="2025-03-11 23:59:59")
    await add_job(db, user=1, images=6, credits=30.0, finished="2025-02-28 23:59:59")
    await add_job(db, user=1, images=6, credits=30.0, finished="2025-04-01 00:00:00")  # next month
    await add_job(db, user=1, state="generating", images=None, credits=None, finished=None)
    await add_job(db, user=1, images=5, credits=25.0, guild=GUILD + 1)


REPORT_CASES = [
    # period, images, credits, jobs, failed, top members
    ("day", 6, 30.0, 5, 2, [(1, 6, 30.0)]),
    ("week", 15, 75.0, 7, 2, [(1, 6, 30.0), (5, 6, 30.0), (2, 3, 15.0)]),
    ("month", 16, 80.0, 8, 2, [(1, 6, 30.0), (5, 6, 30.0), (2, 3, 15.0), (3, 1, 5.0)]),
]


@pytest.mark.parametrize(("period", "images", "credits", "jobs", "failed", "top"), REPORT_CASES)
async def test_usage_sums_delivered_jobs(
    db: Database, period, images, credits, jobs, failed, top
) -> None:
    """Totals equal the sums of the jobs that finished in the period, in this guild only."""
    await seed(db)
    report = await usage(db, GUILD, period, NOW)
    assert (report.images, report.credits, report.jobs, report.failed_jobs) == (
        images,
        credits,
        jobs,
        failed,
    )
    assert report.top_members == tuple(MemberUsage(*member) for member in top)


async def test_usage_of_an_empty_guild(db: Database) -> None:
    """A guild with no jobs reports zeros and no members."""
    report = await usage(db, GUILD, "month", NOW)
    assert (report.images, report.credits, report.jobs, report.failed_jobs) == (0, 0.0, 0, 0)
    assert report.top_members == ()
    assert (report.start, report.end) == (ts("2025-03-01 00:00:00"), ts("2025-04-01 00:00:00"))


async def test_top_is_limited(db: Database) -> None:
    """Only the requested number of top members is returned, biggest first."""
    for user in range(1, 9):
        await add_job(db, user=user, images=user % 6 + 1, credits=float(user))
    report = await usage(db, GUILD, "day", NOW, top=3)
    assert [m.user_id for m in report.top_members] == [5, 4, 3]


def _delivered(job_id: str, user: int, credits: Decimal | None) -> Job:
    """Return a job delivered today with one image and kie's charge for it."""
    finished = ts("2025-03-12 10:00:00")
    return Job(
        id=job_id,
        callback_token=f"token-{job_id}",
        guild_id=GUILD,
        channel_id=1,
        user_id=user,
        state=JobState.DELIVERED,
        options=JobOptions("p", ImageSize.SQUARE_HD, Resolution.R1K, 1),
        created_at=finished - 60,
        updated_at=finished,
        finished_at=finished,
        images_delivered=1,
        credits_consumed=credits,
    )


async def test_many_fractional_charges_sum_exactly(db: Database) -> None:
    """1000 charges of 0.1 and three of 5.5 total exactly 116.5, where floats give 116.4999…."""
    store = JobStore(db)
    async with db.transaction() as tx:
        for n in range(1000):
            await store.insert(_delivered(f"tenth-{n}", 1, Decimal("0.1")), conn=tx)
        for n in range(3):
            await store.insert(_delivered(f"half-{n}", 2, None), conn=tx)
    for n in range(3):
        # As the engine records kie's figure, here still a float from the JSON answer.
        await store.update(f"half-{n}", credits_consumed=5.5)
    assert sum([0.1] * 1000) + 3 * 5.5 != 116.5  # what summing floats would have shown

    report = await usage(db, GUILD, "day", NOW)
    assert report.credits == Decimal("116.5")
    assert str(report.credits) == "116.5"
    assert report.top_members == (
        MemberUsage(1, 1000, Decimal("100")),
        MemberUsage(2, 3, Decimal("16.5")),
    )
    assert [str(m.credits) for m in report.top_members] == ["100", "16.5"]
    assert await db.fetchval("SELECT SUM(credits_consumed_milli) FROM jobs") == 116_500


def _day(text: str) -> int:
    return int(ts(f"{text} 00:00:00"))


async def test_days_of_the_week_through_today(db: Database) -> None:
    """Each UTC day from Monday through today, with its images, credits and top members' images."""
    await seed(db)
    report = await usage(db, GUILD, "week", NOW)
    # Monday 10, Tuesday 11, Wednesday 12 (today); the rest of the week is still to come.
    assert [day.start for day in report.days] == [_day(f"2025-03-{n}") for n in (10, 11, 12)]
    assert report.period_days == 7
    # Top members are 1, 5, 2: user 2's Monday job, user 5's just before Wednesday, user 1's
    # two today (one at 00:00:00 exactly); failed and cancelled jobs bring no images.
    assert [(d.images, d.credits, d.member_images) for d in report.days] == [
        (3, Decimal(15), (0, 0, 3)),
        (6, Decimal(30), (0, 6, 0)),
        (6, Decimal(30), (6, 0, 0)),
    ]
    assert sum(d.images for d in report.days) == report.images
    assert sum(d.credits for d in report.days) == report.credits


async def test_days_of_the_month_and_everyone_else(db: Database) -> None:
    """Images of members below the top count in the day's total, not in a member's share."""
    await seed(db)
    report = await usage(db, GUILD, "month", NOW, top=1)
    assert report.period_days == 31
    assert len(report.days) == 12  # March 1st through the 12th
    by_day = {d.start: d for d in report.days}
    assert by_day[_day("2025-03-01")].images == 1  # user 3, not in the top 1
    assert by_day[_day("2025-03-01")].member_images == (0,)
    assert by_day[_day("2025-03-12")].member_images == (6,)
    assert all(
        d.images == 0
        for d in report.days
        if d.start
        not in (_day("2025-03-01"), _day("2025-03-10"), _day("2025-03-11"), _day("2025-03-12"))
    )
    assert sum(d.images for d in report.days) == report.images == 16


async def test_days_split_at_utc_midnight_to_the_second(db: Database) -> None:
    """A job 0.25 s before midnight counts on that day, one at midnight on the next."""
    await add_job(db, user=1, images=1, credits=0.8, finished="2025-03-10 23:59:59")
    await db.execute("UPDATE jobs SET finished_at = finished_at + 0.75 WHERE guild_id = $1", GUILD)
    await add_job(db, user=1, images=2, credits=1.6, finished="2025-03-11 00:00:00")
    report = await usage(db, GUILD, "week", NOW)
    assert [(d.images, str(d.credits)) for d in report.days] == [
        (1, "0.8"),
        (2, "1.6"),
        (0, "0"),
    ]


async def test_an_empty_period_has_empty_days(db: Database) -> None:
    """With no jobs every day so far is zero and the report says it is empty."""
    report = await usage(db, GUILD, "day", NOW)
    assert report.is_empty
    assert [(d.start, d.images, d.credits, d.member_images) for d in report.days] == [
        (_day("2025-03-12"), 0, 0, ())
    ]


async def test_a_charge_without_images_is_not_empty(db: Database) -> None:
    """kie billing a task that delivered nothing still shows: the admin paid for it."""
    await add_job(db, user=1, state="failed", images=None, credits=2.5)
    report = await usage(db, GUILD, "day", NOW)
    assert not report.is_empty
    assert [(d.images, d.credits) for d in report.days] == [(0, Decimal("2.5"))]
