"""Benchmark scale-out: 1 vs 3 processes under the same demand, and how fast a death is covered.

Two ways to run the "processes" (`--mode`, both by default):

- engines: each is a JobEngine as bot/runtime.py builds it on PostgreSQL (its own pool,
  PostgresNotifier, leases and kie client, kie's windows shared in the database), all on
  this one event loop with the kie stand-in; results go to a chat side that only counts
  posts. The job side alone; a "kill" cancels every step and releases nothing.
- processes: real `python -m bot` children against the Discord and kie stand-ins (in this
  process, on 127.0.0.1), three gateway shards with one guild each: one process on every
  shard (SHARD_COUNT=3), or three (SHARD_IDS 0, 1, 2). A kill is SIGKILL.

1. Throughput: the same burst (default 60 jobs, one per member, kie tasks of 2 s) at once.
   Printed: createTask per second over the run (a burst of 20 in the first 10 s, then kie
   allows 2 a second: it tends to 2.0 on longer runs, whatever the process count), jobs
   delivered per minute, and what the kie stand-in saw: the most createTask in any 10 s, the
   most reads in any 1 s, and how many requests it refused with 429.
2. Failover: 3 processes, JOB_LEASE_SECONDS `--lease` (3), jobs generating at kie (tasks of
   8-10 s); one process is killed. For each of its jobs: kill → another process holds the
   lease, and kill → the job's next state change ("moving again"). p50 and max over
   `--rounds` kills.
3. The shared limiter's own cost: one grant (a transaction) in ms, and how many grants 500
   `acquire("discord")` take at Discord's 50/s (tokens come in blocks).

    python -m bench.scale_out_bench [--mode engines|processes|both] [--jobs 60]
                                    [--rounds 3] [--jobs-each 6] [--lease 3] [--postgres URL]

Needs the PostgreSQL of TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test);
each run uses a schema of its own, dropped at the end. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
ROOT = Path(__file__).resolve().parent.parent
SHARDS = 3  # the processes' gateway shards: one guild on each
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


# ----- real processes: python -m bot children ----------------------------------------------


@dataclass
class Children:
    """`python -m bot` children on three gateway shards, against both stand-ins."""

    url: str
    schema: str
    kie: FakeKie
    discord: Any
    work: Path
    guilds: list[Any]
    lease: float
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        from tests.e2e.subprocess_bot import postgres_url

        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "HOME": str(self.work),
            "DISCORD_TOKEN": self.discord.token,
            "KIE_API_KEY": KIE_KEY,
            "KIE_API_BASE_URL": self.kie.base_url,
            "KIE_RESULT_HOSTS": "127.0.0.1",
            "DISCORD_API_BASE_URL": self.discord.api_base_url,
            "DISCORD_GATEWAY_URL": self.discord.gateway_url,
            "DATABASE_URL": postgres_url(self.url, self.schema),
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(free_port()),
            "JOB_LEASE_SECONDS": f"{self.lease:g}",
            "MAX_JOBS_PER_MEMBER": "10",
            "MAX_QUEUED_PER_MEMBER": "100",
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    async def start(self, processes: int) -> None:
        """One process on every shard, or one process per shard; wait until all identified."""
        envs = (
            [self.env(SHARD_COUNT=str(SHARDS))]
            if processes == 1
            else [self.env(SHARD_COUNT=str(SHARDS), SHARD_IDS=str(n)) for n in range(SHARDS)]
        )
        self.envs = envs
        for n, env in enumerate(envs):
            with (self.work / f"bot-{n}.stderr").open("wb") as err:
                self.procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bot",
                        cwd=self.work,
                        env=env,
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=err,
                    )
                )
        await self.discord.wait_for(
            lambda: len(self.discord.gateway.identify_payloads) >= SHARDS, timeout=60
        )

    async def imagine(self, count: int) -> list[Any]:
        """Send `count` /imagine, one per member, spread over the guilds (so the shards)."""
        sent = []
        for n in range(count):
            guild = self.guilds[n % len(self.guilds)]
            [member] = guild.add_members(1)
            sent.append(
                await self.discord.send_slash_command(
                    member, "imagine", {"prompt": f"bench lighthouse {n}"}
                )
            )
        await self.discord.wait_for(lambda: all(i.acknowledged for i in sent), timeout=60)
        return sent

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def poll_until(db: Database, count_sql: str, at_least: int, *, timeout: float) -> None:
    """Wait until `count_sql` counts `at_least` rows; stop the benchmark after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if int(await db.fetchval(count_sql)) >= at_least:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"never reached {at_least}: {count_sql}")
        await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def with_children(url: str, lease: float, durations: Durations, run: Any) -> dict[str, float]:
    """Run `run(children, db)` against fresh stand-ins and a fresh schema."""
    from imagine_standins.discord import FakeDiscord
    from imagine_standins.discord.world import shard_of
    from tests.e2e.subprocess_bot import seed_history

    schema = await fresh_schema(url)
    try:
        with tempfile.TemporaryDirectory(prefix="scale-out-") as tmp:
            async with FakeKie(api_key=KIE_KEY, durations=durations) as kie, FakeDiscord() as fake:
                world = fake.world
                guilds = {shard_of(world.guild_id, SHARDS): world}
                for shard in range(SHARDS):
                    guilds.setdefault(shard, world.add_guild(f"G{shard}", shard=(shard, SHARDS)))
                db = await open_database(url, server_settings={"search_path": schema})
                await seed_history(db, took=durations.total)
                children = Children(url, schema, kie, fake, Path(tmp), list(guilds.values()), lease)
                try:
                    result: dict[str, float] = await run(children, db)
                finally:
                    await children.stop()
                    await db.close()
                return result
    finally:
        await drop_schema(url, schema)


async def real_throughput(url: str, processes: int, jobs: int) -> dict[str, float]:
    async def run(children: Children, db: Database) -> dict[str, float]:
        await children.start(processes)
        started = time.monotonic()
        await children.imagine(jobs)
        # + the three seeded jobs of history
        delivered = "SELECT COUNT(*) FROM jobs WHERE state = 'delivered'"
        await poll_until(db, delivered, jobs + 3, timeout=300)
        took = time.monotonic() - started
        kie = children.kie
        return {
            "create_rate": sum(1 for r in kie.calls(CREATE_TASK) if r.code != 429) / took,
            "per_minute": jobs / took * 60,
            "seconds": took,
            "max_create_10s": kie.max_in_window(CREATE_TASK, 10.0),
            "max_read_1s": kie.max_in_window(RECORD_INFO, 1.0),
            "refused_429": sum(1 for r in kie.requests if r.code == 429),
        }

    return await with_children(url, 30.0, Durations(0.2, 0.3, 1.5), run)


async def real_failover(url: str, jobs: int, lease: float) -> tuple[list[float], list[float]]:
    """Kill -9 the process of shard 0 while every job generates at kie; time its jobs."""
    from bot.jobs.leases import instance_name

    taken: list[float] = []
    moved: list[float] = []
    seen: dict[tuple[str, str], float] = {}

    async def run(children: Children, db: Database) -> dict[str, float]:
        await children.start(SHARDS)
        await children.imagine(jobs)
        await poll_until(
            db, "SELECT COUNT(*) FROM jobs WHERE kie_state = 'generating'", jobs, timeout=120
        )
        doomed_owner = instance_name(int(children.envs[0]["WEB_PORT"]))
        rows = await db.fetch(
            "SELECT id, state, kie_state FROM jobs WHERE lease_owner = $1", doomed_owner
        )
        theirs = {r["id"]: (r["state"], r["kie_state"]) for r in rows}
        children.procs[0].kill()  # SIGKILL: no handler, nothing released
        await children.procs[0].wait()
        killed = time.monotonic()
        while len(moved_at := {k: v for k, v in seen.items() if k[1] == "moved"}) < len(theirs):
            for job_id, before in theirs.items():
                row = await db.fetchrow(
                    "SELECT state, kie_state, lease_owner FROM jobs WHERE id = $1", job_id
                )
                assert row is not None
                since = time.monotonic() - killed
                if row["lease_owner"] != doomed_owner:
                    seen.setdefault((job_id, "taken"), since)
                if (row["state"], row["kie_state"]) != before:
                    seen.setdefault((job_id, "moved"), since)
            if time.monotonic() - killed > lease + 60:
                raise SystemExit("the killed process's jobs never moved")
            await asyncio.sleep(0.05)
        taken.extend(v for k, v in seen.items() if k[1] == "taken")
        moved.extend(moved_at.values())
        return {}

    await with_children(url, lease, Durations(0.2, 0.3, 9.5), run)
    return taken, moved


def _throughput_row(processes: int, r: dict[str, float]) -> str:
    return (
        f"   {processes:9d}  {r['create_rate']:12.2f}  {r['per_minute']:8.1f}"
        f"  {r['seconds']:7.1f}  {r['max_create_10s']:18.0f}  {r['max_read_1s']:12.0f}"
        f"  {r['refused_429']:4.0f}"
    )


def _failover_rows(taken: list[float], moved: list[float]) -> None:
    print(f"   {len(moved)} jobs of killed processes")
    print(f"   kill → taken over:   p50 {statistics.median(taken):5.2f} s  max {max(taken):5.2f} s")
    print(f"   kill → moving again: p50 {statistics.median(moved):5.2f} s  max {max(moved):5.2f} s")


HEADER = "   processes  createTask/s  jobs/min  seconds  max createTask/10s  max reads/1s  429s"


async def main_async(args: argparse.Namespace) -> None:
    url = args.postgres
    print(f"PostgreSQL {url.rsplit('@', 1)[-1]}, Python {sys.version.split()[0]}")
    if args.mode in ("engines", "both"):
        print(f"\n1. Throughput, engines in one process: {args.jobs} jobs at once, kie tasks 2 s")
        print(HEADER)
        for processes in (1, 3):
            print(_throughput_row(processes, await throughput(url, processes, args.jobs)))
        print(f"\n2. Failover, engines: JOB_LEASE_SECONDS {args.lease:g}, {args.rounds} kill(s)")
        taken: list[float] = []
        moved: list[float] = []
        for _ in range(args.rounds):
            t, m = await failover_round(url, args.jobs_each, args.lease)
            taken += t
            moved += m
        _failover_rows(taken, moved)
    if args.mode in ("processes", "both"):
        print(
            f"\n1. Throughput, python -m bot processes on {SHARDS} shards: {args.jobs} /imagine"
            " at once, kie tasks 2 s"
        )
        print(HEADER)
        for processes in (1, 3):
            print(_throughput_row(processes, await real_throughput(url, processes, args.jobs)))
        print(
            f"\n2. Failover, python -m bot processes: JOB_LEASE_SECONDS {args.lease:g},"
            f" {args.rounds} kill -9 of 1 of {SHARDS}"
        )
        taken, moved = [], []
        for _ in range(args.rounds):
            t, m = await real_failover(url, args.jobs_each * SHARDS, args.lease)
            taken += t
            moved += m
        _failover_rows(taken, moved)
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
    parser.add_argument(
        "--mode",
        choices=("engines", "processes", "both"),
        default="both",
        help="engines in this process, real python -m bot children, or both",
    )
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
