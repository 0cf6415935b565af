"""Job leases in the store, on each backend: who may take a job, and fenced writes."""

from __future__ import annotations

import time

import pytest

from bot.jobs.leases import LeaseLost, Leases
from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.store.database import Database
from tests.jobs.rows import queued_job


def _store(db: Database, owner: str, *, seconds: float = 30, exclusive: bool = False) -> JobStore:
    return JobStore(db, leases=Leases(owner, seconds=seconds, exclusive=exclusive))


async def test_a_new_row_is_leased_to_its_writer_and_others_cannot_take_it(db: Database) -> None:
    mine, theirs = _store(db, "a"), _store(db, "b")
    job = queued_job()
    await mine.insert(job)
    assert await mine.lease_of(job.id) == ("a", 1)
    assert await theirs.take_leases(follow_since=0) == []
    assert await theirs.claim(job.id) is None
    with pytest.raises(LeaseLost):  # b never held it: its engine may not write it
        await theirs.update(job.id, state=JobState.SUBMITTING)
    updated = await mine.update(job.id, expect={JobState.QUEUED}, state=JobState.SUBMITTING)
    assert updated is not None and updated.state is JobState.SUBMITTING


async def test_an_expired_lease_is_taken_and_the_old_owner_is_fenced_off(db: Database) -> None:
    old, new = _store(db, "old", seconds=0.05), _store(db, "new")
    job = queued_job()
    await old.insert(job)
    time.sleep(0.1)  # noqa: ASYNC251 - the lease runs out; nothing else runs meanwhile
    [taken] = await new.take_leases(follow_since=0)
    assert taken.id == job.id
    assert await new.lease_of(job.id) == ("new", 2)
    with pytest.raises(LeaseLost):
        await old.update(job.id, expect={JobState.QUEUED}, state=JobState.SUBMITTING)
    assert job.id not in old.leases
    assert await old.renew_leases() == set()  # forgotten already
    row = await new.get(job.id)
    assert row is not None and row.state is JobState.QUEUED  # the fenced write changed nothing


async def test_a_lost_state_race_is_none_not_lease_lost(db: Database) -> None:
    store = _store(db, "a")
    job = queued_job()
    await store.insert(job)
    assert await store.update(job.id, expect={JobState.RUNNING}, state=JobState.DELIVERING) is None


async def test_renewal_reports_jobs_taken_over_and_forgets_ended_ones(db: Database) -> None:
    store = _store(db, "a")
    kept, taken, ended = queued_job(), queued_job(), queued_job()
    for job in (kept, taken, ended):
        await store.insert(job)
    await db.execute(
        "UPDATE jobs SET lease_owner = 'b', lease_epoch = lease_epoch + 1 WHERE id = $1", taken.id
    )
    # Anybody may end a job (a member's cancel): that is no loss.
    await JobStore(db).update(ended.id, state=JobState.CANCELLED)
    assert await store.renew_leases() == {taken.id}
    assert kept.id in store.leases
    assert taken.id not in store.leases and ended.id not in store.leases


async def test_at_start_an_instance_takes_its_own_jobs_back_however_fresh(db: Database) -> None:
    before = _store(db, "host:8080")
    job = queued_job()
    await before.insert(job)
    stranger = _store(db, "host:8081")
    assert await stranger.take_leases(follow_since=0, own=True) == []
    again = _store(db, "host:8080")
    [back] = await again.take_leases(follow_since=0, own=True)
    assert back.id == job.id and again.leases.epoch(job.id) == 2
    with pytest.raises(LeaseLost):  # the earlier run of the instance is fenced off too
        await before.update(job.id, state=JobState.SUBMITTING)


async def test_the_only_process_takes_every_job_at_start(db: Database) -> None:
    other = _store(db, "somebody")
    job = queued_job()
    await other.insert(job)
    only = _store(db, "only", exclusive=True)
    [taken] = await only.take_leases(follow_since=0, own=True)
    assert taken.id == job.id
    # Later scans take rows nobody leased, not its own again.
    fresh = queued_job()
    await JobStore(db).insert(fresh)
    assert [j.id for j in await only.take_leases(follow_since=0)] == [fresh.id]
    assert await only.take_leases(follow_since=0) == []
