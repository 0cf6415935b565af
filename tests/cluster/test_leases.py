"""Several engines ("processes") on one PostgreSQL database: leases, fencing, hand-overs.

Each engine has its own pool, Notifier and leases, as a process would; kie is one fake they
all call (kie is one account), and each has its own fake chat side, so a post shows which
process made it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.cluster.notify import PostgresNotifier
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.leases import Leases
from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore
from bot.kie import CreateTaskRequest, TaskRecord, TaskState
from bot.store.database import Database
from tests.cluster.conftest import OpenDb
from tests.conftest import POSTGRES_URL
from tests.images.pictures import as_download, noise_jpeg
from tests.jobs.rows import queued_job
from tests.jobs.test_engine import RESULT_URL, FakeDelivery, FakeKie, FakeLedger

LEASE = 1.5  # seconds: renewals and the scan for dead owners every 0.5 s


@dataclass
class Process:
    """One engine as one process would run it."""

    name: str
    engine: JobEngine
    delivery: FakeDelivery
    ledger: FakeLedger
    notifier: PostgresNotifier
    db: Database


@dataclass
class Cluster:
    """Engines on one schema, sharing one fake kie."""

    open_pg: OpenDb
    kie: FakeKie = field(default_factory=FakeKie)
    processes: list[Process] = field(default_factory=list)
    callbacks: bool = False
    # The test's own view of the database: one pool, not one per look (PostgreSQL allows
    # only so many connections, and CI runs beside other work).
    _outside: Database | None = None

    async def outside(self) -> JobStore:
        """Return a store on the test's own pool (opened once)."""
        if self._outside is None:
            self._outside = await self.open_pg()
        return JobStore(self._outside)

    async def start(self, name: str, *, lease: float = LEASE) -> Process:
        db = await self.open_pg()
        notifier = PostgresNotifier(db, POSTGRES_URL)
        await notifier.start()
        image = as_download(noise_jpeg(64, 64, seed=1), RESULT_URL)

        async def download(urls: Any) -> list[Any]:
            return [image for _ in urls]

        delivery, ledger = FakeDelivery(), FakeLedger()
        engine = JobEngine(
            store=JobStore(db, leases=Leases(name, seconds=lease)),
            kie=self.kie,
            delivery=delivery,
            download=download,
            quota=ledger,
            notifier=notifier,
            config=EngineConfig(
                default_expected={"1K": 0.05},
                callback_base_url="https://bot.example" if self.callbacks else None,
            ),
        )
        await engine.start()
        process = Process(name, engine, delivery, ledger, notifier, db)
        self.processes.append(process)
        return process

    async def kill(self, process: Process) -> None:
        """kill -9: every step stops, nothing is released or written."""
        engine = process.engine
        engine.accepting = False
        steps = [*engine._workers, *engine._submits, *engine._tasks, *engine._deliveries]
        if engine._keeper is not None:
            steps.append(engine._keeper)
        if engine._places_task is not None:
            steps.append(engine._places_task)
        for step in steps:
            step.cancel()
        await asyncio.gather(*steps, return_exceptions=True)
        await process.notifier.close()
        self.processes.remove(process)

    async def admitted(self, **fields: Any) -> Job:
        """Write a job row nobody holds yet (as if its admitting process died at once)."""
        job = queued_job(**fields)
        await (await self.outside()).insert(job)
        return job

    async def wait(
        self, job_id: str, done: Callable[[Job], bool] | None = None, timeout: float = 10.0
    ) -> Job:
        store = await self.outside()
        check = done or (lambda j: j.state.finished)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = await store.get(job_id)
            if job is not None and check(job):
                return job
            await asyncio.sleep(0.02)
        raise AssertionError(f"job {job_id} never got there: {await store.get(job_id)}")


@pytest.fixture
async def cluster(open_pg: OpenDb) -> AsyncIterator[Cluster]:
    cluster = Cluster(open_pg)
    yield cluster
    for process in list(cluster.processes):
        await process.engine.shutdown(timeout=1)
        await process.notifier.close()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `check()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    for _ in itertools.count():
        if check():
            return
        assert time.monotonic() < deadline, "it never happened"
        await asyncio.sleep(0.02)


def _posts(cluster: Cluster, *processes: Process) -> int:
    return sum(len(p.delivery.posted) for p in processes)


async def test_two_processes_share_the_jobs_and_each_is_made_and_posted_once(
    cluster: Cluster,
) -> None:
    jobs = [await cluster.admitted(user_id=n) for n in range(12)]
    one, two = await cluster.start("one"), await cluster.start("two")
    for job in jobs:
        done = await cluster.wait(job.id)
        assert done.state is JobState.DELIVERED
    assert len(cluster.kie.created) == len(jobs)  # one createTask each
    assert _posts(cluster, one, two) == len(jobs)  # one post each
    settled = one.ledger.settled | two.ledger.settled
    assert settled == {job.id: 1 for job in jobs}
    assert not set(one.ledger.settled) & set(two.ledger.settled)


async def test_a_process_that_lost_its_lease_writes_and_posts_nothing(cluster: Cluster) -> None:
    """Fencing: the owner's lease is taken over in the database while its task runs."""
    cluster.kie.final = "never"
    owner = await cluster.start("owner", lease=30)
    job = await cluster.admitted()
    await owner.engine.accept(job)
    # Generating at kie, as the owner last wrote: its next write is kie's end.
    running = await cluster.wait(job.id, lambda j: j.kie_state == "generating")
    db = await cluster.open_pg()
    # Another process took it over (its lease had run out while the owner was paused).
    await db.execute(
        "UPDATE jobs SET lease_owner = 'other', lease_epoch = lease_epoch + 1 WHERE id = $1",
        job.id,
    )
    polls = cluster.kie.polls.get(running.task_id or "", 0)
    cluster.kie.final = "success"  # kie finishes: the owner's next poll sees it
    await until(lambda: job.id not in owner.engine.leases)  # it noticed, and stopped
    assert cluster.kie.polls[running.task_id or ""] > polls  # it did see kie finish
    after = await JobStore(db).get(job.id)
    assert after is not None
    assert after.state is JobState.RUNNING  # the write that would have delivered was refused
    assert after.result_urls == ()
    # Epochs: 1 when the owner took it, 2 when the other took it over.
    assert await JobStore(db).lease_of(job.id) == ("other", 2)
    assert owner.delivery.posted == [] and owner.ledger.settled == {}
    assert owner.ledger.refunded == [] and owner.delivery.failures == []


async def test_a_dead_process_jobs_are_taken_over_and_delivered_once(cluster: Cluster) -> None:
    cluster.kie.final = "never"
    dead = await cluster.start("dead")
    jobs = [await cluster.admitted(user_id=n) for n in range(3)]
    for job in jobs:
        await dead.engine.accept(job)
    for job in jobs:
        await cluster.wait(job.id, lambda j: j.state is JobState.RUNNING)
    heir = await cluster.start("heir")
    await asyncio.sleep(LEASE / 2)
    assert len(heir.engine.leases) == 0  # the owner renews: nobody else takes its jobs
    await cluster.kill(dead)
    killed = time.monotonic()
    cluster.kie.final = "success"
    for job in jobs:
        done = await cluster.wait(job.id, timeout=LEASE + 5)
        assert done.state is JobState.DELIVERED
    taken_within = time.monotonic() - killed
    assert taken_within < LEASE + 5
    assert len(cluster.kie.created) == len(jobs)
    assert dead.delivery.posted == [] and len(heir.delivery.posted) == len(jobs)
    assert set(heir.ledger.settled) == {job.id for job in jobs}


async def test_a_restarted_process_takes_its_own_jobs_back_at_once(cluster: Cluster) -> None:
    cluster.kie.final = "never"
    first = await cluster.start("host-a:8080", lease=60)
    job = await cluster.admitted()
    await first.engine.accept(job)
    await cluster.wait(job.id, lambda j: j.state is JobState.RUNNING)
    await cluster.kill(first)
    stranger = await cluster.start("host-b:8080", lease=60)
    assert job.id not in stranger.engine.leases  # its lease has 60 s to run
    again = await cluster.start("host-a:8080", lease=60)
    assert job.id in again.engine.leases  # taken back at start, lease or not
    owner, epoch = await JobStore(again.db).lease_of(job.id)
    assert (owner, epoch) == ("host-a:8080", 2)
    cluster.kie.final = "success"
    assert (await cluster.wait(job.id)).state is JobState.DELIVERED
    assert len(again.delivery.posted) == 1 and stranger.delivery.posted == []


async def test_a_callback_at_another_process_wakes_the_owner_at_once(open_pg: OpenDb) -> None:
    """With callbacks, the owner polls only every 20 s; the callback's notice moves it now."""
    cluster = Cluster(open_pg, callbacks=True)
    try:
        cluster.kie.final = "never"
        owner, other = await cluster.start("owner"), await cluster.start("other")
        job = await cluster.admitted()
        await owner.engine.accept(job)
        running = await cluster.wait(job.id, lambda j: j.state is JobState.RUNNING)
        await asyncio.sleep(0.5)  # the owner's next poll is 20 s away
        task_id = running.task_id or ""
        assert cluster.kie.polls.get(task_id, 0) == 0
        # The fake answers "generating" to a task's first read: kie has moved on since.
        cluster.kie.polls[task_id] = 1
        cluster.kie.final = "success"
        record = TaskRecord(
            task_id=running.task_id or "", model="m", state=TaskState.SUCCESS, param=""
        )
        assert await other.engine.on_callback(running, record)
        done = await cluster.wait(job.id, timeout=5)
        assert done.state is JobState.DELIVERED
        assert cluster.kie.polls[task_id] == 2  # read once, at the callback's notice
        assert len(owner.delivery.posted) == 1 and other.delivery.posted == []
    finally:
        for process in list(cluster.processes):
            await process.engine.shutdown(timeout=1)
            await process.notifier.close()


async def test_a_cancel_at_another_process_stops_the_owner(cluster: Cluster) -> None:
    cluster.kie.final = "never"
    owner, other = await cluster.start("owner"), await cluster.start("other")
    job = await cluster.admitted()
    await owner.engine.accept(job)
    running = await cluster.wait(job.id, lambda j: j.state is JobState.RUNNING)
    cancelled = await other.engine.cancel(job.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert other.ledger.refunded == [job.id]  # refunded with the cancel, where it was written
    # The owner hears of it: the job leaves its line and its task's cost is followed.
    await until(lambda: owner.engine.line.at_kie == 0)
    cluster.kie.final = "success"
    followed = await cluster.wait(job.id, lambda j: j.credits_consumed is not None)
    assert followed.state is JobState.CANCELLED and followed.task_id == running.task_id
    assert owner.delivery.posted == [] and other.delivery.posted == []


async def test_a_callback_naming_an_unconfirmed_task_at_another_process_is_adopted(
    open_pg: OpenDb,
) -> None:
    """The createTask answer was lost; kie's callback reaches another process, which writes
    the task id before answering, and the owner confirms and adopts it at once."""
    cluster = Cluster(open_pg, callbacks=True)
    try:
        owner, other = await cluster.start("owner"), await cluster.start("other")
        job = await cluster.admitted(state=JobState.SUBMITTING, submitted_at=time.time())
        await owner.engine.accept(job)  # held by the owner, waiting for a callback
        assert job.id in owner.engine.leases
        # kie did make the task: its callback URL carries the job's token.
        request = CreateTaskRequest(prompt="a red fox", callback_url=owner.engine.callback_url(job))
        cluster.kie.created.append(request)
        record = TaskRecord(task_id="task-1", model="m", state=TaskState.SUCCESS, param="")
        assert await other.engine.on_callback(job, record)
        # Durable before the 200: a crash of both now would still know the task.
        stored = await JobStore(other.db).get(job.id)
        assert stored is not None and stored.task_id == "task-1"
        done = await cluster.wait(job.id, timeout=5)
        assert done.state is JobState.DELIVERED
        assert len(owner.delivery.posted) == 1 and other.delivery.posted == []
        assert len(cluster.kie.created) == 1  # never sent again
    finally:
        for process in list(cluster.processes):
            await process.engine.shutdown(timeout=1)
            await process.notifier.close()


async def test_a_process_that_cannot_renew_drops_its_jobs_then_takes_them_back(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database stops answering renewals for longer than a lease: the process stops
    driving every job (another may own them now); once it answers, nobody else wanted them,
    so the process takes them back and delivers each once."""
    cluster.kie.final = "never"
    solo = await cluster.start("solo")
    job = await cluster.admitted()
    await solo.engine.accept(job)
    await cluster.wait(job.id, lambda j: j.state is JobState.RUNNING)

    async def unreachable() -> set[str]:
        raise OSError("connection refused")

    renew = solo.engine.store.renew_leases
    monkeypatch.setattr(solo.engine.store, "renew_leases", unreachable)
    await until(lambda: job.id not in solo.engine.leases, timeout=LEASE * 4)
    assert solo.engine.line.at_kie == 0
    monkeypatch.setattr(solo.engine.store, "renew_leases", renew)
    cluster.kie.final = "success"
    done = await cluster.wait(job.id, timeout=LEASE * 4)
    assert done.state is JobState.DELIVERED
    assert len(solo.delivery.posted) == 1
    assert len(cluster.kie.created) == 1


async def test_a_process_stopped_gracefully_lets_its_jobs_go_at_once(cluster: Cluster) -> None:
    cluster.kie.final = "never"
    leaving = await cluster.start("leaving", lease=60)
    job = await cluster.admitted()
    await leaving.engine.accept(job)
    await cluster.wait(job.id, lambda j: j.state is JobState.RUNNING)
    staying = await cluster.start("staying")
    assert job.id not in staying.engine.leases  # 60 s of lease left
    await leaving.engine.shutdown(timeout=1)
    cluster.processes.remove(leaving)
    await leaving.notifier.close()
    await until(lambda: job.id in staying.engine.leases, timeout=LEASE * 2)
    cluster.kie.final = "success"
    assert (await cluster.wait(job.id)).state is JobState.DELIVERED
    assert len(staying.delivery.posted) == 1 and leaving.delivery.posted == []
