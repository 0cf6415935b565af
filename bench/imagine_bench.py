"""Benchmark /imagine end to end: acknowledgement latency, polling cost, callback delay.

Starts the Discord and kie.ai stand-ins on loopback and the real bot in this process (the
end-to-end harness's `start_stack`), runs three scenarios one after another, each on a fresh
stack and SQLite database, and prints what it measured. Nothing here asserts anything about
time: the summary puts PASS or MISS next to each target, for information only.

    python -m bench.imagine_bench [--quick] [--seed N]

bench/README.md says what each figure means and how it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import math
import os
import platform
import random
import re
import secrets
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord

from bot.jobs.models import Job, JobOptions, JobState
from bot.jobs.polling import DEFAULT_EXPECTED, PollPlan
from bot.jobs.store import JobStore
from bot.kie import ImageSize, KieLimiter, Resolution
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from imagine_standins.discord import (
    FakeDiscord,
    InteractionRecord,
    RecordedRequest,
    point_discord_py_at,
)
from imagine_standins.kie import Durations, FakeKie, FakeTask
from tests.e2e.stack import KIE_KEY, Stack, start_stack, stop_stack, wait_until

# Targets the summary compares with (information, not assertions).
ACK_P99_TARGET_MS = 50.0
POLL_CALLS_TARGET = 6
POLL_DELAY_TARGET = 1.5
CALLBACK_DELAY_TARGET = 0.5

# The shape every job here has: /imagine with only a prompt (Square HD, 1K, one image).
SIZE, RESOLUTION, IMAGES = ImageSize.SQUARE_HD, Resolution.R1K, 1
FIXED_INTERVAL = 3.0
HMAC_KEY = "bench-callback-hmac-key"
# Job ids, task ids and snowflakes, hidden so that repeated log lines group together.
_IDS = re.compile(r"\b(?:[0-9a-f]{32}|\d{15,}|Task-\d+)\b")
CALLBACK_ROUTE = "/interactions/{interaction_id}/{token}/callback"


# ----- small helpers -----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Return the nearest-rank q-th percentile (the smallest value with q% at or below it)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def wall_minus_monotonic() -> float:
    """Return time.time() - time.monotonic(), to put the kie stand-in's times on the wall clock."""
    return time.time() - time.monotonic()


class LogTally(logging.Handler):
    """Keep every warning and error logged during a scenario, without printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        """Return the records kept since the last call and forget them."""
        taken, self.records = self.records, []
        return taken


def describe_logs(records: Sequence[logging.LogRecord]) -> str:
    """Summarise a scenario's warnings and errors: counts, then each distinct message."""
    errors = sum(r.levelno >= logging.ERROR for r in records)
    groups: collections.Counter[str] = collections.Counter()
    for r in records:
        first_line = r.getMessage().splitlines()[0]
        groups[f"{r.levelname} {r.name}: {_IDS.sub('…', first_line)[:150]}"] += 1
    lines = [f"  log: {len(records) - errors} warning(s), {errors} error(s)"]
    lines += [f"    {n} x {text}" for text, n in groups.most_common(6)]
    return "\n".join(lines)


@dataclass
class Leftovers:
    """Job-engine tasks still running after the bot shut down, and how they ended."""

    count: int = 0
    waited: float = 0.0
    outcomes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Return a line for the report (empty when nothing outlived the shutdown)."""
        if not self.count:
            return ""
        ends = ", ".join(sorted(set(self.outcomes))) or "still running"
        return (
            f"\n  after stop: {self.count} job-engine task(s) outlived the bot's shutdown and "
            f"ended {self.waited:.1f} s later ({ends}; any errors they logged are counted above)"
        )


def _engine_tasks() -> list[asyncio.Task[Any]]:
    """Return the pending tasks running a JobEngine coroutine."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and "JobEngine." in getattr(t.get_coro(), "__qualname__", "")
    ]


@contextlib.asynccontextmanager
async def bot_stack(
    kie: FakeKie,
    *,
    history: Sequence[float] = (),
    callbacks: bool = False,
    hmac_key: str | None = None,
    leftovers: Leftovers | None = None,
    **env: str,
) -> AsyncIterator[Stack]:
    """Run a fresh Discord stand-in, SQLite database and bot against `kie`.

    The engine keeps production's default expected durations (the harness shortens them
    for tests) and a KieLimiter with production's limits. `history` becomes delivered jobs
    of the benchmark's shape that took that many seconds, as the poll plan learns from.
    Job-engine tasks that outlive the shutdown are waited for (up to 15 s, with the
    database still open) so that they end inside this scenario, and noted in `leftovers`.
    """
    with tempfile.TemporaryDirectory(prefix="imagine-bench-") as tmp:
        db = await open_database(f"sqlite:///{tmp}/bot.db")
        try:
            await apply_migrations(db, now=time.time())
            async with FakeDiscord() as fake:
                await insert_history(db, fake, history)
                with point_discord_py_at(fake):
                    stack = await start_stack(
                        fake,
                        kie,
                        db,
                        callbacks=callbacks,
                        hmac_key=hmac_key,
                        limiter=KieLimiter(),
                        engine_options={"default_expected": dict(DEFAULT_EXPECTED)},
                        **env,
                    )
                    try:
                        yield stack
                    finally:
                        await stop_stack(stack)
                        await _wait_leftovers(leftovers or Leftovers())
        finally:
            await db.close()


async def _wait_leftovers(leftovers: Leftovers) -> None:
    """Wait for job-engine tasks that outlived the shutdown; note how they ended."""
    tasks = _engine_tasks()
    if not tasks:
        return
    began = time.monotonic()
    await asyncio.wait(tasks, timeout=15)
    leftovers.count = len(tasks)
    leftovers.waited = time.monotonic() - began
    for task in tasks:
        if not task.done():
            continue
        if task.cancelled():
            leftovers.outcomes.append("cancelled")
        elif (exc := task.exception()) is not None:
            leftovers.outcomes.append(f"{type(exc).__name__}: {exc}")
        else:
            leftovers.outcomes.append("returned")


async def insert_history(db: Database, fake: FakeDiscord, took: Sequence[float]) -> None:
    """Write delivered jobs of the benchmark's shape, the latest finished a minute ago."""
    store = JobStore(db)
    now = time.time()
    for n, seconds in enumerate(took):
        finished = now - 60.0 * (len(took) - n)
        submitted = finished - seconds
        await store.insert(
            Job(
                id=uuid.uuid4().hex,
                callback_token=secrets.token_urlsafe(32),
                guild_id=fake.world.guild_id,
                channel_id=fake.world.channel.id,
                user_id=fake.world.alice.id,
                state=JobState.DELIVERED,
                options=JobOptions(
                    prompt=f"history {n}", size=SIZE, resolution=RESOLUTION, images=IMAGES
                ),
                created_at=submitted - 0.1,
                updated_at=finished + 1.0,
                kie_state="success",
                task_id=uuid.uuid4().hex,
                submitted_at=submitted,
                kie_finished_at=finished,
                finished_at=finished + 1.0,
                parts_delivered=1,
                delivered_via="followup",
                images_delivered=IMAGES,
                credits_consumed=5.0,
                cost_time=seconds,
            )
        )


def polls_for(kie: FakeKie, task: FakeTask) -> list[float]:
    """Return when recordInfo was asked about `task`, in seconds after kie created it."""
    return [
        r.at - task.created_at
        for r in kie.calls("recordInfo")
        if r.query.get("taskId") == task.task_id
    ]


async def imagine_all(stack: Stack, prompt: str, count: int) -> list[Job]:
    """Send /imagine from `count` new members at once; return their jobs once kie has them."""
    members = stack.world.add_members(count)
    interactions = await asyncio.gather(
        *(stack.imagine(m, prompt=f"{prompt} {i}") for i, m in enumerate(members))
    )
    jobs = [await stack.job_for(i) for i in interactions]
    return [await stack.wait_job(j.id, lambda j: j.task_id is not None, timeout=30) for j in jobs]


# ----- 1. acknowledgement latency ----------------------------------------------------------


@dataclass
class AckResult:
    """What the acknowledgement scenario measured."""

    sent: int
    members: int
    dispatch_span: float
    latencies_ms: list[float]
    unanswered: int
    refused_callbacks: int
    deferred: int
    jobs_created: int
    logs: list[logging.LogRecord] = field(default_factory=list)


async def bench_ack(
    leftovers: Leftovers, *, commands: int, members: int, spread: float
) -> AckResult:
    """Send `commands` /imagine from `members` members spread evenly over `spread` seconds."""
    async with (
        FakeKie(api_key=KIE_KEY, durations=Durations(0.05, 0.05, 0.2)) as kie,
        bot_stack(
            kie,
            leftovers=leftovers,
            MAX_JOBS_PER_MEMBER=str(max(10, math.ceil(commands / members))),
        ) as stack,
    ):
        fake = stack.discord
        people = fake.world.add_members(members)
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2

        async def send(i: int) -> InteractionRecord:
            await asyncio.sleep(max(0.0, start + i * spread / commands - loop.time()))
            return await fake.send_slash_command(
                people[i % members], "imagine", {"prompt": f"benchmark ack {i}"}
            )

        interactions = await asyncio.gather(*(send(i) for i in range(commands)))
        with contextlib.suppress(TimeoutError):
            await fake.wait_for(lambda: all(i.acknowledged for i in interactions), timeout=15)
        first_callback: dict[str, RecordedRequest] = {}
        for rec in fake.requests:
            if rec.done and rec.route == CALLBACK_ROUTE:
                first_callback.setdefault(rec.params["interaction_id"], rec)
        latencies, refused = [], 0
        for interaction in interactions:
            rec = first_callback.get(str(interaction.id))
            if rec is None:
                continue
            latencies.append((rec.time - interaction.created) * 1000)
            refused += not 200 <= (rec.status or 0) < 300

        async def jobs_created() -> int:
            return int(await stack.db.fetchval("SELECT COUNT(*) FROM jobs"))

        # Every command either becomes a job or is refused; wait for all of them to land.
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: _at_least(jobs_created, commands), timeout=20)
        created = await jobs_created()
        created_times = [i.created for i in interactions]
        return AckResult(
            sent=commands,
            members=members,
            dispatch_span=max(created_times) - min(created_times),
            latencies_ms=latencies,
            unanswered=commands - len(latencies),
            refused_callbacks=refused,
            deferred=sum(i.response_type == 5 for i in interactions),
            jobs_created=created,
        )


async def _at_least(probe: Any, wanted: int) -> bool:
    return bool(await probe() >= wanted)


def report_ack(result: AckResult) -> None:
    """Print the acknowledgement figures."""
    lat = result.latencies_ms
    print(
        f"  {result.sent} /imagine from {result.members} members, dispatched over "
        f"{result.dispatch_span * 1000:.0f} ms"
    )
    print(
        f"  answered {len(lat)}, deferred (type 5) {result.deferred}, callbacks refused "
        f"{result.refused_callbacks}, never answered {result.unanswered}; jobs created "
        f"{result.jobs_created} (refused {result.sent - result.jobs_created})"
    )
    if lat:
        print(
            f"  ack latency ms: count {len(lat)}  p50 {percentile(lat, 50):.1f}  "
            f"p95 {percentile(lat, 95):.1f}  p99 {percentile(lat, 99):.1f}  max {max(lat):.1f}"
            f"  (mean {statistics.fmean(lat):.1f}, min {min(lat):.1f})"
        )


# ----- 2. polling mode ---------------------------------------------------------------------


@dataclass
class PolledJob:
    """One polled job: how long kie took, when the bot asked, and when it noticed."""

    duration: float
    polls: list[float]
    delay: float
    state: JobState

    @property
    def fixed_calls(self) -> int:
        """Return how many calls a fixed 3 s poll would spend (first at 3 s after creation)."""
        return math.ceil(self.duration / FIXED_INTERVAL)

    @property
    def fixed_delay(self) -> float:
        """Return how late a fixed 3 s poll would notice the end (round trip ignored)."""
        return self.fixed_calls * FIXED_INTERVAL - self.duration


@dataclass
class PollResult:
    """What the polling scenario measured."""

    history: list[float]
    plan: PollPlan
    jobs: list[PolledJob]
    rate_limited: int


async def bench_polling(leftovers: Leftovers, rng: random.Random, *, jobs: int) -> PollResult:
    """Run `jobs` concurrent 24-26 s jobs after ten of the same shape took 24-26 s."""

    def lifecycle(body: dict[str, Any]) -> Durations:
        return Durations(0.5, 1.0, rng.uniform(24.0, 26.0) - 1.5)

    history = [round(rng.uniform(24.0, 26.0), 2) for _ in range(10)]
    async with (
        FakeKie(api_key=KIE_KEY, durations=lifecycle) as kie,
        bot_stack(kie, history=history, leftovers=leftovers) as stack,
    ):
        learned = await stack.store.recent_durations(
            size=SIZE.value, resolution=RESOLUTION.value, images=IMAGES
        )
        plan = PollPlan.from_history(
            learned, resolution=RESOLUTION.value, images=IMAGES, default_expected=DEFAULT_EXPECTED
        )
        started = await imagine_all(stack, "benchmark poll", jobs)
        finished = [await stack.wait_job(j.id, timeout=120) for j in started]
        offset = wall_minus_monotonic()
        measured = []
        for job in finished:
            assert job.task_id is not None
            task = kie.task(job.task_id)
            noticed = job.kie_finished_at
            measured.append(
                PolledJob(
                    duration=task.durations.total,
                    polls=polls_for(kie, task),
                    delay=(noticed - (task.terminal_at + offset)) if noticed else math.nan,
                    state=job.state,
                )
            )
        return PollResult(
            history=history,
            plan=plan,
            jobs=measured,
            rate_limited=sum(r.code == 429 for r in kie.requests),
        )


def report_polling(result: PollResult) -> None:
    """Print the polling figures, per job and overall."""
    plan = result.plan
    print(f"  history (cost_time of 10 delivered jobs, s): {sorted(result.history)}")
    print(
        f"  poll plan from it (s after submit): first {plan.first_check:.2f}, window "
        f"{plan.window_start:.2f}-{plan.window_end:.2f} every {plan.interval:.2f}"
    )
    print(f"  kie 429 answers: {result.rate_limited}")
    print(
        "   job  kie s  calls  delay s  fixed-3s calls/delay  state      "
        "polls (s after kie created the task)"
    )
    for n, job in enumerate(result.jobs, start=1):
        polls = " ".join(f"{p:.2f}" for p in job.polls)
        print(
            f"  {n:4d}  {job.duration:5.2f}  {len(job.polls):5d}  {job.delay:7.3f}  "
            f"{job.fixed_calls:8d} / {job.fixed_delay:5.2f}    {job.state.value:<9}  {polls}"
        )
    calls = [len(j.polls) for j in result.jobs]
    delays = [j.delay for j in result.jobs]
    fixed_calls = [j.fixed_calls for j in result.jobs]
    fixed_delays = [j.fixed_delay for j in result.jobs]
    print(
        f"  adaptive: recordInfo calls median {statistics.median(calls):g} max {max(calls)} "
        f"(total {sum(calls)}); delay s median {statistics.median(delays):.3f} "
        f"max {max(delays):.3f} mean {statistics.fmean(delays):.3f}"
    )
    print(
        f"  fixed 3 s (computed): calls median {statistics.median(fixed_calls):g} "
        f"max {max(fixed_calls)} (total {sum(fixed_calls)}); delay s median "
        f"{statistics.median(fixed_delays):.3f} mean {statistics.fmean(fixed_delays):.3f}"
    )


# ----- 3. callback mode --------------------------------------------------------------------


@dataclass
class CallbackJob:
    """One job woken by kie's callback."""

    duration: float
    delay: float
    status: int | None
    polls: int
    state: JobState


async def bench_callbacks(
    leftovers: Leftovers, rng: random.Random, *, jobs: int
) -> list[CallbackJob]:
    """Run `jobs` concurrent 2-4 s jobs with PUBLIC_BASE_URL set and signed callbacks."""

    def lifecycle(body: dict[str, Any]) -> Durations:
        return Durations(0.2, 0.3, rng.uniform(2.0, 4.0) - 0.5)

    async with (
        FakeKie(api_key=KIE_KEY, hmac_key=HMAC_KEY, durations=lifecycle) as kie,
        bot_stack(kie, callbacks=True, hmac_key=HMAC_KEY, leftovers=leftovers) as stack,
    ):
        started = await imagine_all(stack, "benchmark callback", jobs)
        finished = [await stack.wait_job(j.id, timeout=60) for j in started]
        measured = []
        for job in finished:
            assert job.task_id is not None
            task = kie.task(job.task_id)
            attempts = [c for c in kie.callbacks if c.task_id == job.task_id]
            sent = attempts[0].sent_at if attempts else None
            noticed = job.kie_finished_at
            measured.append(
                CallbackJob(
                    duration=task.durations.total,
                    delay=noticed - sent if noticed and sent else math.nan,
                    status=attempts[0].status if attempts else None,
                    polls=len(polls_for(kie, task)),
                    state=job.state,
                )
            )
        return measured


def report_callbacks(result: list[CallbackJob]) -> None:
    """Print the callback figures, per job and overall."""
    print("   job  kie s  callback HTTP  recordInfo calls  delay s  state")
    for n, job in enumerate(result, start=1):
        print(
            f"  {n:4d}  {job.duration:5.2f}  {job.status!s:>13}  {job.polls:16d}  "
            f"{job.delay:7.3f}  {job.state.value}"
        )
    delays = [j.delay for j in result]
    print(
        f"  callback sent -> bot noticed, s: median {statistics.median(delays):.3f} "
        f"max {max(delays):.3f}"
    )


# ----- summary -----------------------------------------------------------------------------


def verdict(met: bool) -> str:
    """Return the summary's word for a target met or missed."""
    return "PASS" if met else "MISS"


def report_summary(
    ack: AckResult, polling: PollResult, callbacks: list[CallbackJob], elapsed: float
) -> None:
    """Print each headline figure next to its target, then the machine."""
    rows: list[tuple[str, str, str, bool]] = []
    if ack.latencies_ms and not ack.unanswered:
        p99 = percentile(ack.latencies_ms, 99)
        rows.append(("ack latency p99", f"{p99:.1f} ms", f"<= {ACK_P99_TARGET_MS:g} ms", p99 <= 50))
    else:
        rows.append(("ack latency p99", f"{ack.unanswered} unanswered", "<= 50 ms", False))
    calls = [len(j.polls) for j in polling.jobs]
    delays = [j.delay for j in polling.jobs]
    rows.append(
        (
            "polling: recordInfo calls per job (max)",
            f"{max(calls)} (median {statistics.median(calls):g})",
            f"<= {POLL_CALLS_TARGET}",
            max(calls) <= POLL_CALLS_TARGET,
        )
    )
    median_delay = statistics.median(delays)
    rows.append(
        (
            "polling: notice delay (median)",
            f"{median_delay:.3f} s",
            f"<= {POLL_DELAY_TARGET:g} s",
            median_delay <= POLL_DELAY_TARGET,
        )
    )
    fixed_calls = statistics.median(j.fixed_calls for j in polling.jobs)
    fixed_delay = statistics.fmean(j.fixed_delay for j in polling.jobs)
    cb_delays = [j.delay for j in callbacks]
    worst = max(cb_delays)
    rows.append(
        (
            "callback: notice delay (max)",
            f"{worst:.3f} s (median {statistics.median(cb_delays):.3f})",
            f"<= {CALLBACK_DELAY_TARGET:g} s",
            worst <= CALLBACK_DELAY_TARGET,
        )
    )
    print("\n== Summary (information only; nothing here is asserted) ==")
    for name, value, target, met in rows:
        print(f"  {name:<40} {value:<22} target {target:<9} {verdict(met)}")
    print(
        f"  for comparison, fixed 3 s polling of the same jobs: {fixed_calls:g} calls "
        f"(median), {fixed_delay:.2f} s mean delay"
    )
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    print(
        f"  machine: {os.cpu_count()} cores ({usable} usable), "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.platform()}, {platform.machine()}"
    )
    loop = type(asyncio.get_running_loop())
    print(
        f"  stack: {loop.__module__}.{loop.__qualname__}, SQLite {sqlite3.sqlite_version}, "
        f"discord.py {discord.__version__}, aiohttp {aiohttp.__version__}; "
        f"bot and both stand-ins share one event loop"
    )
    print(f"  run took {elapsed:.1f} s")


# ----- entry point -------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    """Run the three scenarios and print their figures."""
    began = time.monotonic()
    tally = LogTally()
    root = logging.getLogger()
    root.addHandler(tally)
    root.setLevel(logging.WARNING)
    rng = random.Random(args.seed)
    poll_jobs = 4 if args.quick else 10
    callback_jobs = 4 if args.quick else 10
    mode = "quick" if args.quick else "default"
    print(f"imagine benchmark ({mode} run, seed {args.seed})")

    print("\n== 1. Acknowledgement latency: INTERACTION_CREATE dispatched -> deferral received ==")
    leftovers = Leftovers()
    ack = await bench_ack(leftovers, commands=200, members=50, spread=1.0)
    report_ack(ack)
    print(describe_logs(tally.take()) + leftovers.describe())

    print(f"\n== 2. Polling mode: {poll_jobs} concurrent jobs of 24-26 s, history warmed ==")
    leftovers = Leftovers()
    polling = await bench_polling(leftovers, rng, jobs=poll_jobs)
    report_polling(polling)
    print(describe_logs(tally.take()) + leftovers.describe())

    print(f"\n== 3. Callback mode: {callback_jobs} concurrent jobs of 2-4 s, signed callbacks ==")
    leftovers = Leftovers()
    callbacks = await bench_callbacks(leftovers, rng, jobs=callback_jobs)
    report_callbacks(callbacks)
    print(describe_logs(tally.take()) + leftovers.describe())

    report_summary(ack, polling, callbacks, time.monotonic() - began)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for ``python -m bench.imagine_bench``."""
    parser = argparse.ArgumentParser(prog="python -m bench.imagine_bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="4 jobs instead of 10 in scenarios 2 and 3"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the kie durations")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
