"""Benchmark the line: thousands of /imagine at 500 a second, and what members see.

For each size (default 1,000, 3,000 and 10,000 commands) a fresh scenario runs: the Discord
and kie.ai stand-ins in this process on 127.0.0.1, and the real bot (`python -m bot`'s
`main`, unmodified) in a child process of its own, so that its CPU, memory and event-loop
lag are its own. Commands come from 2,000 members at 500 a second; kie tasks take 25 s;
the bot runs with production's settings (kie limits, MAX_JOBS_PER_MEMBER 2,
MAX_QUEUED_PER_MEMBER 5, LOG_LEVEL INFO). After the burst the line is left to run for
`--steady` seconds, then the bot is stopped with SIGTERM.

    python -m bench.line_bench [--sizes 1000,3000,10000] [--rate 500] [--members 2000]
                               [--steady 40] [--load]

`--load` runs a busy-loop process beside it (one core of other load). Nothing is asserted:
the summary puts PASS or MISS next to each target, for information. bench/README.md says
what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KIE_KEY = "kie-bench-key-0123456789"
CALLBACK_ROUTE = "/interactions/{interaction_id}/{token}/callback"
MESSAGE_ROUTE = "/webhooks/{application_id}/{token}/messages/{message_id}"
KIE_SECONDS = (0.5, 1.0, 23.5)  # waiting, queuing, generating: 25 s
KIE_CREATE_LIMIT = 20  # kie's limit: 20 createTask per 10 s
KIE_CREATE_RATE = 2.0

# Targets from the issue (information, not assertions).
ACK_P99_MS = 50.0
FIRST_MESSAGE_P99_S = 1.0
LAG_P99_MS = 50.0
RSS_MIB = 200.0
CREATE_RATE_TARGET = 1.95
LAG_SAMPLE = 0.01  # the child's lag timer: how late a 10 ms sleep wakes


# ----- the child: the real bot, plus a loop-lag sampler ------------------------------------


def child_main(samples: str) -> int:
    """Run `python -m bot` in this process with a 10 ms loop-lag sampler writing to `samples`.

    Only the metrics task that measures lag is swapped (bot/runtime.py starts it); the bot is
    otherwise exactly `python -m bot`.
    """
    import bot.metrics
    from bot.__main__ import main

    out = open(samples, "w")  # noqa: SIM115 - closed when the sampler is cancelled
    # Garbage collections too (when, generation, pause): a long one is loop lag.
    gc_out = open(samples + ".gc", "w")  # noqa: SIM115 - closed with `out`
    gc_began = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_began[:] = time.perf_counter(), time.thread_time()
        else:
            pause = time.perf_counter() - gc_began[0]
            cpu = time.thread_time() - gc_began[1]
            gc_out.write(f"{time.time():.4f} {info['generation']} {pause:.5f} {cpu:.5f}\n")

    gc.callbacks.append(on_gc)

    async def sample_lag(interval: float = 0.5) -> None:
        del interval
        with out, gc_out, contextlib.suppress(asyncio.CancelledError):
            try:
                await sample(out, gc_out)
            finally:
                gc.callbacks.remove(on_gc)

    async def sample(out: Any, gc_out: Any) -> None:
        last_flush = time.monotonic()
        while True:
            start = time.perf_counter()
            await asyncio.sleep(LAG_SAMPLE)
            lag = time.perf_counter() - start - LAG_SAMPLE
            out.write(f"{time.time():.4f} {max(lag, 0.0):.5f}\n")
            if time.monotonic() - last_flush > 1.0:
                out.flush()
                gc_out.flush()
                last_flush = time.monotonic()

    bot.metrics.measure_loop_lag = sample_lag
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    profile = os.environ.get("LINE_BENCH_PROFILE")
    if not profile:
        return main(["run"])
    import cProfile

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(main, ["run"])
    finally:
        profiler.dump_stats(profile)


# ----- small helpers -----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Return the nearest-rank q-th percentile (nan for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def max_in_any_second(times: Sequence[float]) -> int:
    """Return the most events in any 1 s window (sliding, not binned)."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu(pid: int) -> float:
    """Return the CPU seconds (user + system) process `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mib(pid: int, key: str) -> float:
    """Return VmRSS or VmHWM (peak RSS) of process `pid` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


@dataclass
class Usage:
    """The child's CPU and memory, sampled every 0.2 s: (wall time, cpu s, rss MiB)."""

    samples: list[tuple[float, float, float]] = field(default_factory=list)
    peak_mib: float = math.nan

    def cpu_between(self, start: float, end: float) -> float:
        return cpu_between([(t, cpu) for t, cpu, _ in self.samples], start, end)


def cpu_between(samples: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Return the CPU seconds used between two wall times, from (wall time, CPU s) samples."""

    def at(t: float) -> float:
        before = [s for s in samples if s[0] <= t]
        return before[-1][1] if before else samples[0][1]

    return at(end) - at(start) if samples else math.nan


async def watch_usage(pid: int, usage: Usage) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        while True:
            usage.samples.append((time.time(), proc_cpu(pid), proc_mib(pid, "VmRSS")))
            usage.peak_mib = proc_mib(pid, "VmHWM")
            await asyncio.sleep(0.2)


async def watch_own_lag(out: list[tuple[float, float]], cpu: list[tuple[float, float]]) -> None:
    """Lag of this process's loop (the stand-ins): a late stand-in inflates every figure.

    Also this process's CPU time (`cpu`: (wall time, CPU s)): with one core of other load
    the stand-ins and the bot share what is left.
    """
    while True:
        start = time.perf_counter()
        await asyncio.sleep(LAG_SAMPLE)
        now = time.time()
        out.append((now, time.perf_counter() - start - LAG_SAMPLE))
        if not cpu or now - cpu[-1][0] >= 0.2:
            cpu.append((now, time.process_time()))


def read_lag(path: Path) -> list[tuple[float, float]]:
    out = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out.append((float(parts[0]), float(parts[1])))
    return out


def read_gc(path: Path) -> list[tuple[float, int, float, float]]:
    """Return the child's garbage collections: (when, generation, pause s, CPU s)."""
    out = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                out.append((float(parts[0]), int(parts[1]), float(parts[2]), float(parts[3])))
    return out


def lag_p99_ms(samples: Sequence[tuple[float, float]], start: float, end: float) -> float:
    return percentile([lag for t, lag in samples if start <= t <= end], 99) * 1000


# ----- one scenario ------------------------------------------------------------------------


@dataclass
class Result:
    """What one scenario measured."""

    size: int
    members: int
    rate: float
    dispatch_span: float = 0.0
    acked: int = 0
    acked_in_3s: int = 0
    ack_ms: list[float] = field(default_factory=list)
    first_s: list[float] = field(default_factory=list)
    jobs: int = 0
    burst_window: tuple[float, float] = (0.0, 0.0)
    steady_window: tuple[float, float] = (0.0, 0.0)
    lag_burst_ms: float = math.nan
    # Garbage collections: (generation, pause s, CPU s); the pause counts time descheduled.
    gc_burst: list[tuple[int, float, float]] = field(default_factory=list)
    lag_steady_ms: float = math.nan
    stand_in_lag_ms: float = math.nan
    stand_in_cpu_burst: float = math.nan
    cpu_burst: float = math.nan
    cpu_steady_per_s: float = math.nan
    peak_mib: float = math.nan
    rss_end_mib: float = math.nan
    discord_max_1s: int = 0
    progress_max_1s: int = 0
    progress_edits: int = 0
    discord_kinds: Counter[str] = field(default_factory=Counter)
    create_count: int = 0
    create_rate: float = math.nan
    create_gaps: list[float] = field(default_factory=list)  # each createTask's to its 20th before
    kie_429: int = 0
    waiting_at_end: int = 0
    exit_code: int | None = None
    log_counts: Counter[str] = field(default_factory=Counter)
    log_lines: list[str] = field(default_factory=list)


def child_env(discord: Any, kie: Any, db_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(db_path.parent),
        "DISCORD_TOKEN": discord.token,
        "KIE_API_KEY": KIE_KEY,
        "KIE_API_BASE_URL": kie.base_url,
        "KIE_RESULT_HOSTS": "127.0.0.1",
        "DISCORD_API_BASE_URL": discord.api_base_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def classify(rec: Any, first_edit: set[str]) -> str:
    """Name what a request to the Discord stand-in was for."""
    if rec.route == CALLBACK_ROUTE:
        return "acknowledgement"
    if rec.route == MESSAGE_ROUTE and rec.method == "PATCH":
        token = rec.params.get("token", "")
        if token not in first_edit:
            first_edit.add(token)
            return "first message"
        embeds = (rec.json or {}).get("embeds") or []
        if embeds and embeds[0].get("title") == "Imagining…":
            return "progress edit"
        return "final edit"
    if rec.route and rec.route.startswith("/webhooks/") and rec.method == "POST":
        return "result or followup"
    return "other"


async def run_scenario(size: int, args: argparse.Namespace) -> Result:
    """Run one burst of `size` /imagine against a fresh bot and database; measure it."""
    from imagine_standins.discord import FakeDiscord
    from imagine_standins.kie import Durations, FakeKie

    result = Result(size=size, members=args.members, rate=args.rate)
    with tempfile.TemporaryDirectory(prefix="line-bench-") as tmp:
        work = Path(tmp)
        async with (
            FakeKie(api_key=KIE_KEY, durations=Durations(*KIE_SECONDS)) as kie,
            FakeDiscord() as discord,
        ):
            people = discord.world.add_members(args.members)
            lag_file = work / "lag.txt"
            log_file = work / "bot.stderr"
            with log_file.open("wb") as err:
                child = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.line_bench",
                    "--child-bot",
                    str(lag_file),
                    cwd=work,
                    env=child_env(discord, kie, work / "bot.db", **args.child_env),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=err,
                )
            usage = Usage()
            own_lag: list[tuple[float, float]] = []
            own_cpu: list[tuple[float, float]] = []
            watchers = [
                asyncio.create_task(watch_usage(child.pid, usage)),
                asyncio.create_task(watch_own_lag(own_lag, own_cpu)),
            ]
            try:
                await wait_ready(discord, child, log_file)
                # One command first, left out of every figure: a bot that has been running
                # has its connections open and its code paths warm.
                [warm_up] = discord.world.add_members(1)
                await discord.send_slash_command(warm_up, "imagine", {"prompt": "warm up"})
                await asyncio.sleep(2.0)
                # No collections in this process while the bot is measured: it keeps every
                # request it answers, and with them its middle generation grew until each
                # collection of it stalled this loop for 25-42 ms (about every 2.7 s at 500
                # commands a second), timestamping every acknowledgement arriving meanwhile
                # late. Discord's servers do not pause on the bot's behalf.
                gc.disable()
                try:
                    interactions = await burst(discord, people, size, args.rate)
                    result.dispatch_span = interactions[-1].created - interactions[0].created
                    burst_end = await wait_answered(discord, interactions, timeout=60.0)
                    t0 = interactions[0].created
                    result.burst_window = (t0, burst_end)
                    await asyncio.sleep(args.steady)
                finally:
                    gc.enable()
                end = time.time()
                result.steady_window = (burst_end + 2.0, end)
                result.peak_mib = usage.peak_mib
                result.rss_end_mib = usage.samples[-1][2] if usage.samples else math.nan
                measure(result, discord, kie, interactions, usage, read_lag(lag_file), own_lag)
                result.stand_in_cpu_burst = cpu_between(own_cpu, t0 - 0.2, burst_end)
                burst_gcs = [
                    (gen, pause, cpu)
                    for t, gen, pause, cpu in read_gc(Path(f"{lag_file}.gc"))
                    if t0 <= t <= burst_end
                ]
                result.gc_burst = burst_gcs
                result.jobs, result.waiting_at_end = count_jobs(work / "bot.db")
                result.jobs -= 1  # the warm-up
            finally:
                if child.returncode is None:
                    child.send_signal(signal.SIGTERM)
                    try:
                        result.exit_code = await asyncio.wait_for(child.wait(), 60)
                    except TimeoutError:
                        child.kill()
                        await child.wait()
                for watcher in watchers:
                    watcher.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
            result.log_counts, result.log_lines = count_log_levels(log_file)
    return result


async def wait_ready(discord: Any, child: Any, log_file: Path) -> None:
    """Wait until the bot has identified and synced its commands (its engine then starts)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.returncode is not None:
            raise SystemExit(f"the bot exited with {child.returncode}:\n{read_log(log_file)}")
        if discord.gateway.identify_payloads and any(
            c.get("name") == "imagine" for cmds in discord.commands.values() for c in cmds
        ):
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"the bot did not become ready in 60 s:\n{read_log(log_file)}")


def read_log(path: Path) -> str:
    return path.read_text(errors="replace")


async def burst(discord: Any, people: Sequence[Any], size: int, rate: float) -> list[Any]:
    """Send `size` /imagine at `rate` a second, member i % len(people); return the records."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    sent = []
    for i in range(size):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(
            await discord.send_slash_command(
                people[i % len(people)], "imagine", {"prompt": f"line bench {i}"}
            )
        )
    return sent


def first_edits(discord: Any) -> dict[str, float]:
    """Return, per interaction token, when the first edit of its reply arrived."""
    out: dict[str, float] = {}
    for rec in discord.requests:
        if rec.route == MESSAGE_ROUTE and rec.method == "PATCH":
            out.setdefault(rec.params.get("token", ""), rec.time)
    return out


async def wait_answered(discord: Any, interactions: Sequence[Any], timeout: float) -> float:
    """Wait until every command has its first real message (or `timeout`); return when."""
    deadline = time.monotonic() + timeout
    waiting = {i.token for i in interactions}
    last, seen = 0.0, 0
    # Only the requests recorded since the last look: walking all of them every 0.5 s
    # would hold up the stand-ins' loop, whose delays every figure includes.
    while time.monotonic() < deadline:
        recorded = discord.requests
        for rec in recorded[seen:]:
            if rec.route == MESSAGE_ROUTE and rec.method == "PATCH":
                token = rec.params.get("token", "")
                if token in waiting:
                    waiting.discard(token)
                    last = max(last, rec.time)
        seen = len(recorded)
        if not waiting:
            return last
        await asyncio.sleep(0.5)
    return time.time()


def measure(
    result: Result,
    discord: Any,
    kie: Any,
    interactions: Sequence[Any],
    usage: Usage,
    lag: Sequence[tuple[float, float]],
    own_lag: Sequence[tuple[float, float]],
) -> None:
    """Fill `result` from the stand-ins' records and the child's samples."""
    by_id = {str(i.id): i for i in interactions}
    acks: dict[str, float] = {}
    for rec in discord.requests:
        if rec.route == CALLBACK_ROUTE and rec.done:
            acks.setdefault(rec.params["interaction_id"], rec.time)
    for interaction_id, at in acks.items():
        interaction = by_id.get(interaction_id)
        if interaction is not None:
            result.ack_ms.append((at - interaction.created) * 1000)
    result.acked = len(result.ack_ms)
    result.acked_in_3s = sum(ms <= 3000 for ms in result.ack_ms)
    edits = first_edits(discord)
    for interaction in interactions:
        edited = edits.get(interaction.token)
        if edited is not None:
            result.first_s.append(edited - interaction.created)
    first_edit: set[str] = set()
    times: list[float] = []
    progress_times: list[float] = []
    for rec in discord.requests:
        kind = classify(rec, first_edit)
        result.discord_kinds[kind] += 1
        times.append(rec.time)
        if kind == "progress edit":
            progress_times.append(rec.time)
    result.discord_max_1s = max_in_any_second(times)
    result.progress_max_1s = max_in_any_second(progress_times)
    result.progress_edits = len(progress_times)
    start, end = result.burst_window
    result.lag_burst_ms = lag_p99_ms(lag, start, end)
    result.lag_steady_ms = lag_p99_ms(lag, *result.steady_window)
    result.stand_in_lag_ms = lag_p99_ms(own_lag, start, result.steady_window[1])
    result.cpu_burst = usage.cpu_between(start - 0.2, end)
    steady_start, steady_end = result.steady_window
    if steady_end > steady_start:
        result.cpu_steady_per_s = usage.cpu_between(steady_start, steady_end) / (
            steady_end - steady_start
        )
    creates = sorted(r.at for r in kie.calls("createTask"))
    result.create_count = len(creates)
    # The burst's createTasks only: the line is never empty from the first command on (the
    # warm-up's went out 2 s earlier, to an empty line). The stand-in stamps them with
    # time.monotonic(); `start` is time.time().
    start_monotonic = start - (time.time() - time.monotonic())
    burst_creates = [t for t in creates if t >= start_monotonic]
    result.create_gaps = [b - a for a, b in zip(burst_creates, burst_creates[20:], strict=False)]
    if result.create_gaps:
        # kie lets 20 go in any 10 s: each createTask may go 10 s after the one 20 before it,
        # so 20 / (mean of those gaps) is the rate the line ran at against kie's 2.0/s.
        result.create_rate = KIE_CREATE_LIMIT / statistics.fmean(result.create_gaps)
    result.kie_429 = sum(r.status == 429 for r in kie.requests)


def count_jobs(db_path: Path) -> tuple[int, int]:
    """Return (jobs created, jobs still waiting) from the bot's database."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as conn:
        row = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(state = 'queued'), 0) FROM jobs"
        ).fetchone()
        return int(row[0]), int(row[1])


def count_log_levels(path: Path) -> tuple[Counter[str], list[str]]:
    """Return how many warnings and errors the bot logged, and the first few of them."""
    counts: Counter[str] = Counter()
    lines: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            counts[parts[2]] += 1
            if len(lines) < 3:
                lines.append(parts[3][:160] if len(parts) > 3 else line[:160])
        if "Traceback" in line:
            counts["Traceback"] += 1
    return counts, lines


# ----- report ------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(r: Result) -> None:
    """Print one scenario's figures."""
    print(
        f"\n== {r.size:,} /imagine from {min(r.members, r.size):,} members at {r.rate:g}/s "
        f"(dispatched over {r.dispatch_span:.1f} s)"
    )
    print(
        f"  acknowledged {r.acked:,} of {r.size:,}; within 3 s: {r.acked_in_3s:,} "
        f"[{mark(r.acked_in_3s == r.size)}]; jobs created {r.jobs:,} (refused {r.size - r.jobs:,})"
    )
    print(
        f"  ack ms: p50 {percentile(r.ack_ms, 50):.1f}  p99 {percentile(r.ack_ms, 99):.1f}  "
        f"max {max(r.ack_ms, default=math.nan):.1f}  "
        f"[p99 ≤ {ACK_P99_MS:g}: {mark(percentile(r.ack_ms, 99) <= ACK_P99_MS)}]"
    )
    print(
        f"  command → first real message s: p50 {percentile(r.first_s, 50):.2f}  "
        f"p99 {percentile(r.first_s, 99):.2f}  max {max(r.first_s, default=math.nan):.2f}  "
        f"({len(r.first_s):,} shown)  "
        f"[p99 ≤ {FIRST_MESSAGE_P99_S:g}: {mark(percentile(r.first_s, 99) <= FIRST_MESSAGE_P99_S)}]"
    )
    start, end = r.burst_window
    print(
        f"  bot loop lag p99 ms: burst {r.lag_burst_ms:.1f} "
        f"[≤ {LAG_P99_MS:g}: {mark(r.lag_burst_ms <= LAG_P99_MS)}]  steady {r.lag_steady_ms:.1f}"
        f"   (stand-ins' own loop lag p99 {r.stand_in_lag_ms:.1f} ms)"
    )
    full = [pause for gen, pause, _ in r.gc_burst if gen == 2]
    print(
        f"  bot garbage collections during the burst: {len(r.gc_burst):,}, "
        f"{sum(p for _, p, _ in r.gc_burst) * 1000:.0f} ms in all "
        f"({sum(c for _, _, c in r.gc_burst) * 1000:.0f} ms of CPU), longest "
        f"{max((p for _, p, _ in r.gc_burst), default=0) * 1000:.1f} ms; of them full (gen 2) "
        f"{len(full)}, longest {max(full, default=0) * 1000:.1f} ms"
    )
    print(
        f"  bot CPU: burst {r.cpu_burst:.2f} s over {end - start:.1f} s "
        f"({r.cpu_burst / r.size * 1000:.2f} ms a command); steady {r.cpu_steady_per_s:.2f} s/s; "
        f"the stand-ins' CPU for the burst {r.stand_in_cpu_burst:.2f} s"
    )
    print(
        f"  bot peak RSS {r.peak_mib:.0f} MiB [≤ {RSS_MIB:g}: {mark(r.peak_mib <= RSS_MIB)}], "
        f"at the end {r.rss_end_mib:.0f} MiB; jobs still waiting at the end: {r.waiting_at_end:,}"
    )
    kinds = ", ".join(f"{k} {n:,}" for k, n in r.discord_kinds.most_common())
    print(
        f"  Discord requests: max {r.discord_max_1s} in any 1 s; progress edits max "
        f"{r.progress_max_1s} in any 1 s ({r.progress_edits:,} in all)\n    ({kinds})"
    )
    print(
        f"  createTask: {r.create_count} in all; gap to the 20th before s: min "
        f"{min(r.create_gaps, default=math.nan):.2f} p50 {percentile(r.create_gaps, 50):.2f} "
        f"max {max(r.create_gaps, default=math.nan):.2f}; "
        f"rate {r.create_rate:.3f}/s of kie's "
        f"{KIE_CREATE_RATE:.1f}/s [≥ {CREATE_RATE_TARGET}: "
        f"{mark(r.create_rate >= CREATE_RATE_TARGET)}]; kie 429 answers {r.kie_429}"
    )
    logs = ", ".join(f"{k} {n}" for k, n in sorted(r.log_counts.items())) or "none"
    print(f"  bot exit code {r.exit_code}; warnings/errors logged: {logs}")
    for line in r.log_lines:
        print(f"    {line}")


def summary(results: Sequence[Result]) -> None:
    by_size = {r.size: r for r in results}
    if len(by_size) >= 2:
        small, large = by_size[min(by_size)], by_size[max(by_size)]
        ratio = large.cpu_burst / small.cpu_burst if small.cpu_burst else math.nan
        size_ratio = large.size / small.size
        print(
            f"\ngrowth {large.size:,} vs {small.size:,}: burst CPU ×{ratio:.1f} "
            f"for ×{size_ratio:g} "
            f"the commands [no faster than linear: {mark(ratio <= size_ratio * 1.15)}]; "
            f"peak RSS ×{large.peak_mib / small.peak_mib:.2f}"
        )


async def main_async(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    # The stand-ins record every request and message: with the collector's defaults their
    # full collections stalled this loop for 90-140 ms, and every acknowledgement arriving
    # meanwhile was counted that much late. The bot's own setting (bot/heap.py) fixes it.
    import imagine_standins.discord
    import imagine_standins.kie  # noqa: F401 - imported before the heap is settled
    from bot.heap import settle_heap

    settle_heap()
    load = None
    if args.load:
        load = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "while True: pass", stdin=asyncio.subprocess.DEVNULL
        )
    try:
        print(
            f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
            f"Python {platform.python_version()}, {platform.platform()}; "
            f"other load: {'one busy-loop process' if load else 'none'}"
        )
        results = []
        for size in sizes:
            result = await run_scenario(size, args)
            report(result)
            results.append(result)
        summary(results)
    finally:
        if load is not None:
            load.kill()
            await load.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.line_bench", description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--steady", type=float, default=40.0, help="seconds after the burst")
    parser.add_argument("--load", action="store_true", help="one busy-loop process beside it")
    parser.add_argument(
        "--profile-bot", metavar="FILE", help="write the bot's cProfile stats to FILE (slower)"
    )
    parser.add_argument("--child-bot", metavar="LAG_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.child_env = (
        {"LINE_BENCH_PROFILE": str(Path(args.profile_bot).resolve())} if (args.profile_bot) else {}
    )
    if args.child_bot:
        return child_main(args.child_bot)
    import logging

    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
