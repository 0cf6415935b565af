"""Benchmark scale-out: 1 vs 3 processes under the same demand, and how fast a death is covered.

Each "process" is a JobEngine as bot/runtime.py builds it on PostgreSQL: its own pool,
PostgresNotifier, leases and kie client, with kie's limits held in the database for all of
them (bot/cluster/limiter.py). They share this one event loop (and the kie stand-in, on
127.0.0.1); results go to a fake chat side that only counts posts, so the figures are the
job side's: kie's limits bound everything else.

1. Throughput: the same burst of jobs (default 60, kie tasks of 2 s) admitted at once, spread
   over 1 or 3 processes. Printed: createTask per second (kie allows 20 per 10 s, so ≤ 2.0
   whatever the process count), jobs delivered per minute, and the most createTask in any
   10 s and recordInfo in any 1 s as kie's stand-in saw them, with its 429 count.
2. Failover: 3 processes, JOB_LEASE_SECONDS 3, jobs running at kie (tasks of 8 s); one process
   is killed (its steps cancelled, nothing released, as kill -9 leaves it). For each of its
   jobs, the time from the kill to another process taking it over, and to the job's next
   state change (it "moves again"). p50 and max over `--rounds` kills.
3. The shared limiter's own cost: one grant (a transaction) in ms, and how many grants 500
   `acquire("discord")` take at Discord's 50/s (tokens come in blocks).

    python -m bench.scale_out_bench [--jobs 60] [--rounds 3] [--postgres URL]

Needs the PostgreSQL of TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test);
each run uses a schema of its own, dropped at the end. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

from bot.cluster.build import cluster_for
from bot.cluster.limiter import SharedLimiter
from bot.cluster.notify import PostgresNotifier
from bot.images import DownloadedImage
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.leases import Leases
from bot.jobs.models import Job, JobOptions, JobState
from bot.jobs.outcomes import Failed
from bot.jobs.ports import Progress, ResultPart, Unlimited
from bot.jobs.store import JobStore
from bot.kie import ImageSize, KieClient, Resolution
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from imagine_standins.kie import CREATE_TASK, RECORD_INFO, Durations, FakeKie

KIE_KEY = "kie-bench-key-0123456789"
DEFAULT_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class CountingDelivery:
    """The chat side, reduced to counting what would be posted."""

    def __init__(self) -> None:
        self.posted: dict[str, int] = {}

    async def upload_limit(self, job: Job) -> int:
        return 10 * 1024 * 1024

    async def progress(self, job: Job, progress: Progress) -> None:
        return None

    async def post_result(self, job: Job, part: ResultPart) -> str:
        self.posted[job.id] = self.posted.get(job.id, 0) + 1
        return "interaction"

    async def posted_parts(self, job: Job) -> int | None:
        return None

    async def failed(self, job: Job, failed: Failed) -> None:
        return None

    async def cancelled(self, job: Job) -> None:
        return None

    async def close(self) -> None:
        return None


async def tiny_download(urls: Sequence[str]) -> list[DownloadedImage | Exception]:
    # A tiny picture: the benchmark is about the job side, not image bytes.
    from tests.images.pictures import as_download, noise_jpeg

    image = as_download(noise_jpeg(16, 16, seed=1), urls[0] if urls else "x")
    return [image for _ in urls]


@dataclass
class Proc:
    name: str
    db: Database
    engine: JobEngine
    notifier: PostgresNotifier
    delivery: CountingDelivery


@dataclass
class Run:
    url: str
    schema: str
    kie: FakeKie
    session: aiohttp.ClientSession
    procs: list[Proc] = field(default_factory=list)

    async def open(self) -> Database:
        return await open_database(self.url, server_settings={"search_path": self.schema})

    async def start(self, name: str, lease: float, expected: float) -> Proc:
        db = await self.open()
        notifier, _limiter, kie_limiter = cluster_for(db, self.url)
        assert isinstance(notifier, PostgresNotifier)
        await notifier.start()
        delivery = CountingDelivery()
        engine = JobEngine(
            store=JobStore(db, leases=Leases(name, seconds=lease)),
            kie=KieClient(
                self.session, base_url=self.kie.base_url, api_key=KIE_KEY, limiter=kie_limiter
            ),
            delivery=delivery,
            download=tiny_download,
            quota=Unlimited(),
            notifier=notifier,
            config=EngineConfig(default_expected={"1K": expected}, submit_workers=8),
        )
        await engine.start()
        proc = Proc(name, db, engine, notifier, delivery)
        self.procs.append(proc)
        return proc

    async def kill(self, proc: Proc) -> None:
        """As kill -9 leaves it: every step stops, no lease is released, nothing written."""
        engine = proc.engine
        engine.accepting = False
        steps = [*engine._workers, *engine._submits, *engine._tasks, *engine._deliveries]
        steps += [t for t in (engine._keeper, engine._places_task) if t is not None]
        for step in steps:
            step.cancel()
        await asyncio.gather(*steps, return_exceptions=True)
        await proc.notifier.close()
        self.procs.remove(proc)
        await proc.db.close()

    async def stop_all(self) -> None:
        for proc in list(self.procs):
            await proc.engine.shutdown(timeout=1)
            await proc.notifier.close()
            await proc.db.close()
        self.procs.clear()


def new_job(member: int) -> Job:
    now = time.time()
    return Job(
        id=uuid.uuid4().hex,
        callback_token=secrets.token_urlsafe(16),
        guild_id=1,
        channel_id=2,
        user_id=member,
        state=JobState.QUEUED,
        options=JobOptions(
            prompt=f"bench {member}", size=ImageSize.SQUARE_HD, resolution=Resolution.R1K, images=1
        ),
        created_at=now,
        updated_at=now,
    )


async def admit(proc: Proc, job: Job) -> None:
    """Write the row leased to `proc` (as its admission would) and queue it there."""
    await proc.engine.store.insert(job)
    await proc.engine.accept(job)


async def wait_all(db: Database, ids: list[str], pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    store = JobStore(db)
    pending = set(ids)
    while pending:
        for job_id in list(pending):
            job = await store.get(job_id)
            if job is not None and pred(job):
                pending.discard(job_id)
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} job(s) never got there")
        await asyncio.sleep(0.1)


async def fresh_schema(url: str) -> str:
    conn = await asyncpg.connect(url)
    schema = f"bench_{secrets.token_hex(5)}"
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    db = await open_database(url, server_settings={"search_path": schema})
    try:
        await apply_migrations(db, now=time.time())
    finally:
        await db.close()
    return schema


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()


# ----- 1. throughput -----------------------------------------------------------------------


async def throughput(url: str, processes: int, jobs: int) -> dict[str, float]:
    schema = await fresh_schema(url)
    try:
        async with (
            FakeKie(api_key=KIE_KEY, durations=Durations(0.2, 0.3, 1.5)) as kie,
            aiohttp.ClientSession() as session,
        ):
            run = Run(url, schema, kie, session)
            procs = [await run.start(f"p{n}", 30, 2.0) for n in range(processes)]
            db = await run.open()
            started = time.monotonic()
            batch = [new_job(member=n) for n in range(jobs)]
            for n, job in enumerate(batch):
                await admit(procs[n % processes], job)
            await wait_all(db, [j.id for j in batch], lambda j: j.state.finished, 300)
            took = time.monotonic() - started
            await db.close()
            await run.stop_all()
            creates = [r for r in kie.calls(CREATE_TASK) if r.code != 429]
            posted = sum(sum(p.delivery.posted.values()) for p in procs)
            return {
                # Over the whole run: the first window's burst of 20, then 2 a second.
                "create_rate": len(creates) / took,
                "per_minute": jobs / took * 60,
                "seconds": took,
                "posted": posted,
                "max_create_10s": kie.max_in_window(CREATE_TASK, 10.0),
                "max_read_1s": kie.max_in_window(RECORD_INFO, 1.0),
                "refused_429": sum(1 for r in kie.requests if r.code == 429),
            }
    finally:
        await drop_schema(url, schema)


# ----- 2. failover -------------------------------------------------------------------------


async def failover_round(url: str, jobs_each: int, lease: float) -> tuple[list[float], list[float]]:
    schema = await fresh_schema(url)
    try:
        async with (
            FakeKie(api_key=KIE_KEY, durations=Durations(0.2, 0.3, 7.5)) as kie,
            aiohttp.ClientSession() as session,
        ):
            run = Run(url, schema, kie, session)
            procs = [await run.start(f"p{n}", lease, 8.0) for n in range(3)]
            db = await run.open()
            store = JobStore(db)
            doomed = procs[0]
            theirs = []
            for n in range(jobs_each):
                job = new_job(member=n)
                await admit(doomed, job)
                theirs.append(job.id)
            await wait_all(db, theirs, lambda j: j.state is JobState.RUNNING, 60)
            before = {i: (await store.get(i)) for i in theirs}
            await run.kill(doomed)
            killed = time.monotonic()
            taken: dict[str, float] = {}
            moved: dict[str, float] = {}
            while len(moved) < len(theirs):
                for job_id in theirs:
                    if job_id not in taken and (await store.lease_of(job_id))[0] != "p0":
                        taken[job_id] = time.monotonic() - killed
                    job = await store.get(job_id)
                    old = before[job_id]
                    if (
                        job_id not in moved
                        and job is not None
                        and old is not None
                        and (job.state, job.kie_state) != (old.state, old.kie_state)
                    ):
                        moved[job_id] = time.monotonic() - killed
                if time.monotonic() - killed > lease + 60:
                    raise SystemExit("the dead process's jobs never moved")
                await asyncio.sleep(0.05)
            await wait_all(db, theirs, lambda j: j.state.finished, 60)
            await db.close()
            await run.stop_all()
            return list(taken.values()), list(moved.values())
    finally:
        await drop_schema(url, schema)


# ----- 3. the limiter's cost ---------------------------------------------------------------


async def limiter_cost(url: str) -> dict[str, float]:
    schema = await fresh_schema(url)
    try:
        db = await open_database(url, server_settings={"search_path": schema})
        try:
            limiter = SharedLimiter(db)
            await limiter._grant("discord", 1, 0.0)  # the bucket's row exists from here on
            times = []
            for _ in range(200):
                t = time.perf_counter()
                await limiter._grant("discord", 1, 0.0)  # frees at once: cost only
                times.append((time.perf_counter() - t) * 1000)
            fresh = SharedLimiter(db)
            started = time.monotonic()
            await asyncio.gather(*(fresh.acquire("discord") for _ in range(500)))
            took = time.monotonic() - started
            return {
                "grant_ms_p50": statistics.median(times),
                "grant_ms_p99": sorted(times)[int(len(times) * 0.99) - 1],
                "acquires": 500,
                "grants": fresh.grants,
                "round_trips": fresh.round_trips,
                "acquire_seconds": took,
            }
        finally:
            await db.close()
    finally:
        await drop_schema(url, schema)


async def main_async(args: argparse.Namespace) -> None:
    url = args.postgres
    print(f"PostgreSQL {url.rsplit('@', 1)[-1]}, Python {sys.version.split()[0]}")
    print(f"\n1. Throughput: {args.jobs} jobs at once, kie tasks 2 s, kie's limits shared")
    print("   processes  createTask/s  jobs/min  seconds  max createTask/10s  max reads/1s  429s")
    for processes in (1, 3):
        r = await throughput(url, processes, args.jobs)
        print(
            f"   {processes:9d}  {r['create_rate']:12.2f}  {r['per_minute']:8.1f}"
            f"  {r['seconds']:7.1f}  {r['max_create_10s']:18.0f}  {r['max_read_1s']:12.0f}"
            f"  {r['refused_429']:4.0f}"
        )
    print(f"\n2. Failover: JOB_LEASE_SECONDS {args.lease:g}, {args.rounds} kill(s) of 1 of 3")
    taken: list[float] = []
    moved: list[float] = []
    for _ in range(args.rounds):
        t, m = await failover_round(url, args.jobs_each, args.lease)
        taken += t
        moved += m
    print(f"   {len(taken)} jobs of killed processes")
    print(f"   kill → taken over:   p50 {statistics.median(taken):5.2f} s  max {max(taken):5.2f} s")
    print(f"   kill → moving again: p50 {statistics.median(moved):5.2f} s  max {max(moved):5.2f} s")
    print("\n3. Shared limiter")
    c = await limiter_cost(url)
    print(
        f"   one grant (a transaction): p50 {c['grant_ms_p50']:.2f} ms,"
        f" p99 {c['grant_ms_p99']:.2f} ms"
    )
    print(
        f"   {c['acquires']:.0f} acquire('discord') at once, 50/s: {c['grants']:.0f} grants"
        f" ({c['acquires'] / c['grants']:.1f} tokens each) in {c['round_trips']:.0f}"
        f" transactions, {c['acquire_seconds']:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--jobs-each", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--postgres", default=DEFAULT_URL)
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
