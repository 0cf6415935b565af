"""Job rows round-trip and change state conditionally on both backends."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.jobs.models import InteractionRef, Job, JobOptions, JobState
from bot.jobs.store import JobStore
from bot.kie import ImageSize, Resolution
from bot.store.database import Database


def make_job(
    job_id: str = "a" * 32, *, user_id: int = 42, state: JobState = JobState.QUEUED, **extra: object
) -> Job:
    """Return a job with every kind of field filled in."""
    return Job(
        id=job_id,
        callback_token=f"tok-{job_id}",
        guild_id=2**62 + 1,  # Discord ids need 64 bits
        channel_id=2**60 + 3,
        user_id=user_id,
        state=state,
        options=JobOptions(
            prompt="a red fox, 'quoted' and \"double\" — ünïcode",
            size=ImageSize.LANDSCAPE_21_9,
            resolution=Resolution.R4K,
            images=6,
            seed=-88165251,
            safety=False,
        ),
        created_at=1_700_000_000.25,
        updated_at=1_700_000_000.25,
        spoiler=True,
        interaction=InteractionRef(
            application_id=11,
            interaction_id=12,
            token="itoken",
            created_at=1.5,
            attachment_size_limit=10 * 1024 * 1024,
        ),
        **extra,  # type: ignore[arg-type]
    )


async def test_round_trip(db: Database) -> None:
    """Every field of a job comes back as it went in."""
    store = JobStore(db)
    job = make_job(result_urls=("https://x/1.jpg", "https://x/2.jpg"), credits_consumed=30.0)
    await store.insert(job)
    assert await store.get(job.id) == job
    assert await store.by_callback_token(job.callback_token) == job


async def test_conditional_update_lets_one_racer_win(db: Database) -> None:
    """A state change with `expect` succeeds once; the loser sees None."""
    store = JobStore(db)
    job = make_job()
    await store.insert(job)
    won = await store.update(job.id, expect={JobState.QUEUED}, state=JobState.CANCELLED)
    assert won is not None and won.state is JobState.CANCELLED
    lost = await store.update(job.id, expect={JobState.QUEUED}, state=JobState.SUBMITTING)
    assert lost is None
    assert (await store.get(job.id)).state is JobState.CANCELLED  # type: ignore[union-attr]


async def test_update_refuses_unknown_columns(db: Database) -> None:
    """A typo in a field name is an error, not silently ignored SQL."""
    store = JobStore(db)
    await store.insert(make_job())
    with pytest.raises(ValueError, match="no column"):
        await store.update("a" * 32, statee="x")


async def test_unfinished_and_in_flight(db: Database) -> None:
    """Only unfinished jobs count as in flight; lookups by task id work."""
    store = JobStore(db)
    await store.insert(make_job("1" * 32, state=JobState.QUEUED))
    await store.insert(make_job("2" * 32, state=JobState.RUNNING, task_id="task-2"))
    await store.insert(make_job("3" * 32, state=JobState.DELIVERED))
    await store.insert(make_job("4" * 32, state=JobState.RUNNING, user_id=7, task_id="t4"))
    assert {j.id for j in await store.unfinished()} == {"1" * 32, "2" * 32, "4" * 32}
    mine = await store.in_flight(2**62 + 1, 42)
    assert {j.id for j in mine} == {"1" * 32, "2" * 32}
    found = await store.by_task_id("task-2")
    assert found is not None and found.id == "2" * 32
    # The same member's places counted by state, inside a transaction too.
    await store.insert(make_job("5" * 32, state=JobState.QUEUED))
    expected = {JobState.QUEUED: 2, JobState.RUNNING: 1}
    assert await store.states_held(2**62 + 1, 42) == expected
    assert await db.run_transaction(lambda tx: store.states_held(2**62 + 1, 42, conn=tx)) == (
        expected
    )
    assert await store.states_held(2**62 + 1, 99) == {}


async def test_recent_durations_match_the_shape(db: Database) -> None:
    """Durations come only from jobs of the same size, resolution and count, newest first."""
    store = JobStore(db)
    await store.insert(make_job("1" * 32, cost_time=20.0, kie_finished_at=10.0))
    await store.insert(make_job("2" * 32, cost_time=30.0, kie_finished_at=20.0))
    other = make_job("3" * 32, cost_time=99.0, kie_finished_at=30.0)
    await store.insert(other)
    await store.update(other.id, image_size="square")
    got = await store.recent_durations(size="landscape_21_9", resolution="4K", images=6)
    assert got == [30.0, 20.0]


CREDIT_CASES = [
    # what kie's figure arrives as, the exact credits read back, the stored thousandths
    (Decimal("5.5"), "5.5", 5500),
    (Decimal("0.8"), "0.8", 800),
    (0.8, "0.8", 800),  # a float is read as the 0.8 kie wrote, not 0.80000000000000004…
    (Decimal("4.0"), "4", 4000),
    (10, "10", 10_000),
    (0, "0", 0),
    (Decimal("0.001"), "0.001", 1),
    (Decimal("123456789.125"), "123456789.125", 123_456_789_125),
]


@pytest.mark.parametrize(("charged", "text", "thousandths"), CREDIT_CASES)
async def test_credits_are_stored_exactly(db: Database, charged, text, thousandths) -> None:
    """Credits go in as credits, sit in the row as whole thousandths, and come back exact."""
    store = JobStore(db)
    await store.insert(make_job("1" * 32, credits_consumed=charged))
    await store.insert(make_job("2" * 32))
    updated = await store.update("2" * 32, credits_consumed=charged)  # as the engine records it
    for job in (await store.get("1" * 32), updated, await store.get("2" * 32)):
        assert job is not None
        assert isinstance(job.credits_consumed, Decimal)
        assert job.credits_consumed == Decimal(text)
        assert str(job.credits_consumed) == text
    rows = await db.fetch("SELECT credits_consumed_milli AS m FROM jobs ORDER BY id")
    assert [int(r["m"]) for r in rows] == [thousandths, thousandths]


async def test_no_credits_stay_none(db: Database) -> None:
    """A job kie has not billed yet has no credits, not zero."""
    store = JobStore(db)
    await store.insert(make_job())
    assert (await store.get("a" * 32)).credits_consumed is None  # type: ignore[union-attr]
    cleared = await store.update("a" * 32, credits_consumed=None)
    assert cleared is not None and cleared.credits_consumed is None


async def test_fractional_charges_sum_exactly_in_the_database(db: Database) -> None:
    """A thousand 0.1s and three 5.5s add up to exactly 116.5 credits on both backends."""
    store = JobStore(db)
    async with db.transaction() as tx:
        for n in range(1003):
            charge = Decimal("0.1") if n < 1000 else Decimal("5.5")
            await store.insert(make_job(f"{n:032d}", credits_consumed=charge), conn=tx)
    total = await db.fetchval("SELECT SUM(credits_consumed_milli) FROM jobs")
    assert int(total) == 116_500
    assert sum(j.credits_consumed or 0 for j in await store.unfinished()) == Decimal("116.5")
