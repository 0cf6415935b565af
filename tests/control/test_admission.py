"""Admission's per-member limits: MAX_JOBS_PER_MEMBER at kie, MAX_QUEUED_PER_MEMBER more in
line, quota reserved on acceptance, and a quota refusal always before a line refusal."""

from __future__ import annotations

import asyncio

import pytest

from bot.control.admission import Admission, Ask, TooManyJobs
from bot.control.control import Control
from bot.control.errors import QuotaExceeded
from bot.errors import UserFacingError
from bot.jobs.models import Job, JobOptions, JobState
from bot.jobs.store import JobStore
from bot.kie import ImageSize, Resolution
from bot.store.database import Database
from tests.control.helpers import ADMIN, CHANNEL, GUILD, NOW, USER


class Engine:
    """The two things admission asks of the engine."""

    accepting = True

    def __init__(self) -> None:
        self.accepted: list[Job] = []

    async def accept(self, job: Job) -> None:
        self.accepted.append(job)


def make_admission(db: Database, **limits: int) -> tuple[Admission, Engine]:
    engine = Engine()
    admission = Admission(
        control=Control.for_database(db),
        jobs=JobStore(db),
        engine=engine,  # type: ignore[arg-type]
        clock=lambda: NOW,
        **{"max_jobs_per_member": 2, "max_queued_per_member": 5, **limits},
    )
    return admission, engine


def arrive_together(admission: Admission) -> None:
    """Skip the channel and blocklist reads, so requests gathered at once reach the writer
    in order and in one batch (they are read-only; other tests cover them)."""

    async def options(ask: Ask) -> JobOptions:
        return JobOptions(ask.prompt, ImageSize.SQUARE_HD, Resolution.R1K, 1, seed=1)

    admission.options = options  # type: ignore[method-assign]


def ask(user: int = USER, prompt: str = "a fox") -> Ask:
    return Ask(
        guild_id=GUILD,
        channel_id=CHANNEL,
        rules_channel_id=CHANNEL,
        channel_is_nsfw=False,
        user_id=user,
        role_ids=(),
        prompt=prompt,
    )


async def try_admit(admission: Admission, n: int, user: int = USER) -> list[Job | Exception]:
    async def one(i: int) -> Job | Exception:
        try:
            return await admission.admit(ask(user, f"a fox {i}"))
        except UserFacingError as exc:
            return exc

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def used(db: Database, user: int = USER) -> int:
    [figure] = await Control.for_database(db).quotas.status(GUILD, CHANNEL, user, (), NOW)
    return figure.used


async def test_seven_wait_or_run_and_the_eighth_is_refused_naming_the_limits(db: Database) -> None:
    book = Control.for_database(db).quotas
    await book.set_limit(GUILD, "default", None, 100, "day", actor_id=ADMIN, now=NOW)
    admission, engine = make_admission(db)
    results = await try_admit(admission, 9)
    jobs = [r for r in results if isinstance(r, Job)]
    refusals = [r for r in results if isinstance(r, Exception)]
    assert len(jobs) == 7 and len(engine.accepted) == 7
    assert all(job.state is JobState.QUEUED for job in jobs)
    assert len(refusals) == 2 and all(isinstance(r, TooManyJobs) for r in refusals)
    assert str(refusals[0]) == (
        "You already have 0 image requests at kie.ai and 7 waiting in line; the limit is 2 at "
        "kie.ai at once and 5 more waiting. Wait for one to finish, or cancel one."
    )
    # Only the accepted ones hold quota: a refusal's reservation is rolled back.
    assert await used(db) == 7


async def test_jobs_at_kie_and_waiting_share_the_limit_and_delivering_frees_a_place(
    db: Database,
) -> None:
    admission, _ = make_admission(db, max_jobs_per_member=2, max_queued_per_member=1)
    store = JobStore(db)
    jobs = [r for r in await try_admit(admission, 3) if isinstance(r, Job)]
    assert len(jobs) == 3
    await store.update(jobs[0].id, state=JobState.RUNNING)
    await store.update(jobs[1].id, state=JobState.SUBMITTING)
    with pytest.raises(TooManyJobs, match=r"2 image requests at kie\.ai and 1 waiting"):
        await admission.admit(ask())
    # kie is done with one: it is being delivered and no longer holds a place.
    await store.update(jobs[0].id, state=JobState.DELIVERING)
    assert isinstance(await admission.admit(ask()), Job)
    # Another member is not affected by this one's limit.
    assert isinstance(await admission.admit(ask(user=USER + 1)), Job)


async def test_under_a_quota_of_three_five_quick_requests_give_three_jobs_and_two_quota_refusals(
    db: Database,
) -> None:
    book = Control.for_database(db).quotas
    await book.set_limit(GUILD, "default", None, 3, "day", actor_id=ADMIN, now=NOW)
    admission, _ = make_admission(db)
    results = await try_admit(admission, 5)
    assert sum(isinstance(r, Job) for r in results) == 3
    refusals = [r for r in results if isinstance(r, Exception)]
    assert len(refusals) == 2 and all(isinstance(r, QuotaExceeded) for r in refusals)
    assert all("resets" in str(r) for r in refusals), [str(r) for r in refusals]


async def test_a_member_over_both_limits_hears_about_the_quota(db: Database) -> None:
    book = Control.for_database(db).quotas
    await book.set_limit(GUILD, "default", None, 2, "day", actor_id=ADMIN, now=NOW)
    admission, _ = make_admission(db, max_jobs_per_member=1, max_queued_per_member=1)
    assert len([r for r in await try_admit(admission, 2) if isinstance(r, Job)]) == 2
    with pytest.raises(QuotaExceeded) as refused:
        await admission.admit(ask())
    assert "resets" in str(refused.value)
    assert await used(db) == 2


async def test_a_line_refusal_reserves_nothing(db: Database) -> None:
    book = Control.for_database(db).quotas
    await book.set_limit(GUILD, "default", None, 10, "day", actor_id=ADMIN, now=NOW)
    admission, _ = make_admission(db, max_jobs_per_member=1, max_queued_per_member=0)
    await admission.admit(ask())
    with pytest.raises(TooManyJobs, match=r"1 at kie\.ai at once and 0 more waiting"):
        await admission.admit(ask())
    assert await used(db) == 1
    standing = await admission.standing(GUILD, CHANNEL, USER, ())
    assert (standing.max_jobs, standing.max_queued) == (1, 0)
    assert len(standing.jobs) == 1


async def test_one_batch_of_many_members_commits_exactly_what_was_admitted(db: Database) -> None:
    """Requests written together: each member's limits hold within the batch, and a refusal
    (quota or line) leaves nothing behind while the others in its transaction commit."""
    book = Control.for_database(db).quotas
    await book.set_limit(GUILD, "default", None, 3, "day", actor_id=ADMIN, now=NOW)
    await book.set_limit(GUILD, "member", USER + 2, 0, "day", actor_id=ADMIN, now=NOW)
    admission, engine = make_admission(db, max_jobs_per_member=1, max_queued_per_member=1)
    arrive_together(admission)
    asks = [ask(USER, f"a {i}") for i in range(4)] + [ask(USER + 1), ask(USER + 2)]

    async def one(a: Ask) -> Job | Exception:
        try:
            return await admission.admit(a)
        except UserFacingError as exc:
            return exc

    results = await asyncio.gather(*(one(a) for a in asks))
    assert [type(r).__name__ for r in results] == [
        "Job",
        "Job",
        "TooManyJobs",
        "TooManyJobs",
        "Job",
        "QuotaExceeded",
    ]
    assert [j.user_id for j in engine.accepted] == [USER, USER, USER + 1]
    assert await used(db, USER) == 2 and await used(db, USER + 1) == 1
    rows = await db.fetch("SELECT user_id FROM jobs ORDER BY created_at")
    assert sorted(r["user_id"] for r in rows) == [USER, USER, USER + 1]


async def test_a_batch_that_cannot_be_written_fails_its_requests_and_keeps_nothing(
    db: Database,
) -> None:
    book = Control.for_database(db).quotas
    await book.set_limit(GUILD, "default", None, 10, "day", actor_id=ADMIN, now=NOW)
    admission, engine = make_admission(db)
    arrive_together(admission)
    insert = admission.jobs.insert
    calls = 0

    async def broken_insert(job: Job, *, conn: object = None) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        await insert(job, conn=conn)  # type: ignore[arg-type]

    admission.jobs.insert = broken_insert  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(admission.admit(ask(USER + i)) for i in range(3)), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["RuntimeError"] * 3
    assert engine.accepted == []
    assert await db.fetchval("SELECT COUNT(*) FROM jobs") == 0
    assert await used(db, USER) == 0
    # The writer goes on with later requests.
    assert isinstance(await admission.admit(ask()), Job)


async def test_more_requests_than_a_batch_are_all_written_in_order(db: Database) -> None:
    admission, engine = make_admission(db, batch=2)
    arrive_together(admission)
    jobs = await asyncio.gather(*(admission.admit(ask(USER + i)) for i in range(7)))
    assert [j.id for j in engine.accepted] == [j.id for j in jobs]


async def test_a_batch_is_told_a_few_per_turn_and_none_waits_forever_if_the_writer_stops(
    db: Database,
) -> None:
    """A batch's requesters hear their outcome 8 per turn of the event loop; if the writer is
    cancelled between turns (shutdown), those not yet told are cancelled, not left waiting."""
    admission, engine = make_admission(db)
    arrive_together(admission)
    all_accepted = asyncio.Event()
    accept = engine.accept

    async def accept_and_see(job: Job) -> None:
        await accept(job)
        if len(engine.accepted) == 20:
            all_accepted.set()

    engine.accept = accept_and_see  # type: ignore[method-assign]
    tasks = [asyncio.create_task(admission.admit(ask(USER + i))) for i in range(20)]
    await all_accepted.wait()  # the writer is telling them now, a turn at a time
    assert admission._writer is not None
    admission._writer.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    kinds = ["Job" if isinstance(r, Job) else type(r).__name__ for r in results]
    jobs = kinds.count("Job")
    assert 8 <= jobs < 20 and kinds == ["Job"] * jobs + ["CancelledError"] * (20 - jobs)
    assert [r.id for r in results[:jobs]] == [j.id for j in engine.accepted[:jobs]]  # type: ignore[union-attr]
