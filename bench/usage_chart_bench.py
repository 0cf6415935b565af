"""Benchmark the `/imagine-admin usage` chart: matplotlib's import, a month's render, memory.

What it costs to draw bot/control/usage_chart.py's chart with matplotlib (Agg backend, no
pyplot), measured in fresh child processes so that each import is a real first import:

- **import**: `matplotlib.figure` + `backend_agg`, in a child whose matplotlib config dir is
  new (matplotlib then builds its font list once, as a freshly started container does) and in
  a child that finds the list already built (every start after that);
- **render**: the PNG of a month with a day-by-day breakdown (31 days, 5 top members and
  everyone else, the credits line): the first render (fonts loaded, caches filled) and then
  the median, p95 and max of `--renders` more;
- **memory**: the child's resident set before the import, after it, after the first render,
  and its peak after all of them (ru_maxrss);
- **event loop**: how late a 10 ms timer on the event loop wakes (p99, max) while `--renders`
  charts are drawn one after another through `asyncio.to_thread`, as the cog draws them, with
  the bot's modules loaded; beside it the same idle (the machine's noise) and the same with
  the cyclic collector left on during renders;
- **data**: `bot.control.usage.usage` for that month over `--jobs` jobs of 200 members in a
  SQLite database (the queries the chart's data comes from);
- **disk**: the installed size of matplotlib and the packages it brings.

    python -m bench.usage_chart_bench [--renders 20] [--jobs 20000] [--out PATH]

`--out` keeps the month's PNG (default: a temporary file, path printed). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MONTH_START = 1_740_787_200  # 2025-03-01 00:00:00 UTC
MONTH_END = 1_743_465_600  # 2025-04-01 00:00:00 UTC
DAY = 86_400
DEPENDENCIES = (
    "matplotlib",
    "numpy",
    "fonttools",
    "contourpy",
    "kiwisolver",
    "cycler",
    "pyparsing",
    "python-dateutil",
    "packaging",
)


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def month_report(seed: int = 1) -> Any:
    """Return a whole month of usage: 31 days, five top members and everyone else."""
    from bot.control.usage import DayUsage, MemberUsage, UsageReport

    rnd = random.Random(seed)
    days = []
    for n in range(31):
        members = tuple(rnd.randint(0, 12) for _ in range(5))
        images = sum(members) + rnd.randint(0, 30)
        credits = Decimal(images * 5) + Decimal("0.5") * rnd.randint(0, 9)
        days.append(DayUsage(MONTH_START + n * DAY, images, credits, members))
    top = tuple(
        MemberUsage(1000 + n, sum(d.member_images[n] for d in days), Decimal(0)) for n in range(5)
    )
    return UsageReport(
        guild_id=1,
        period="month",
        start=MONTH_START,
        end=MONTH_END,
        images=sum(d.images for d in days),
        credits=sum((d.credits for d in days), Decimal(0)),
        jobs=sum(d.images for d in days),
        failed_jobs=0,
        top_members=top,
        days=tuple(days),
    )


def child(renders: int, out: str) -> dict[str, Any]:
    """Measure in this (fresh) process; return the figures."""
    figures: dict[str, Any] = {"rss_start": _rss_mib()}
    started = time.perf_counter()
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401

    figures["import_s"] = time.perf_counter() - started
    figures["rss_imported"] = _rss_mib()

    from bot.control.usage_chart import render_usage_chart

    report = month_report()
    names = {1000: "Alice", 1001: "Bob", 1003: "Dana"}
    started = time.perf_counter()
    png = render_usage_chart(report, names)
    figures["first_render_s"] = time.perf_counter() - started
    figures["rss_first_render"] = _rss_mib()
    Path(out).write_bytes(png)
    figures["png_bytes"] = len(png)

    times = []
    for _ in range(renders):
        started = time.perf_counter()
        render_usage_chart(report, names)
        times.append(time.perf_counter() - started)
    figures["render_s"] = times
    figures["rss_after"] = _rss_mib()
    figures["rss_peak"] = _peak_mib()
    # The bot's own modules loaded, so the collector has a bot-sized heap to walk.
    import bot.imagine_bot  # noqa: F401
    import cogs.admin  # noqa: F401

    gc.collect()
    figures["tracked_objects"] = len(gc.get_objects())
    figures["lag"] = asyncio.run(_loop_lag(report, names, renders))
    return figures


async def _loop_lag(report: Any, names: dict[int, str], renders: int) -> dict[str, list[float]]:
    """Return [max, p99, seconds] lateness of a 10 ms timer, idle and while charts render.

    The idle figure is the machine's own noise (other processes on the same cores); the
    difference is what rendering on a worker thread (sharing the GIL) costs the loop. The last
    line draws through the module's private `_render`, which leaves the cyclic collector on,
    to show what pausing it (bot/control/usage_chart.py says why) saves.
    """
    from bot.control.usage_chart import render_usage_chart

    async def sample(work: Any) -> list[float]:
        lags: list[float] = []
        done = asyncio.Event()

        async def sampler() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - started - 0.01)

        task = asyncio.create_task(sampler())
        started = time.perf_counter()
        await work()
        done.set()
        await task
        lags.sort()
        return [
            lags[-1],
            lags[min(len(lags) - 1, int(len(lags) * 0.99))],
            time.perf_counter() - started,
        ]

    async def render_all() -> None:
        for _ in range(renders):
            await asyncio.to_thread(render_usage_chart, report, names)

    async def render_all_collector_on() -> None:
        from bot.control.usage_chart import _render

        for _ in range(renders):
            await asyncio.to_thread(_render, report, names)

    rendering = await sample(render_all)
    collector_on = await sample(render_all_collector_on)
    idle = await sample(lambda: asyncio.sleep(rendering[2]))
    return {
        "idle (the machine's own noise)": idle,
        "while charts render on a thread": rendering,
        "the same without pausing the collector": collector_on,
    }


async def data_time(jobs: int) -> tuple[float, int]:
    """Return how long `usage()` takes over `jobs` jobs in a month, and its days."""
    from bot.control.usage import usage
    from bot.store.database import SqliteDatabase
    from bot.store.migrate import apply_migrations

    rnd = random.Random(2)
    with tempfile.TemporaryDirectory() as work:
        db = await SqliteDatabase.open(str(Path(work) / "bench.db"))
        try:
            await apply_migrations(db, now=time.time())
            async with db.transaction() as tx:
                for n in range(jobs):
                    finished = MONTH_START + rnd.random() * (MONTH_END - MONTH_START)
                    await tx.execute(
                        "INSERT INTO jobs (id, callback_token, guild_id, channel_id, user_id,"
                        " state, prompt, image_size, resolution, images, created_at,"
                        " updated_at, finished_at, images_delivered, credits_consumed_milli)"
                        " VALUES ($1, $2, 1, 1, $3, 'delivered', 'p', 'square_hd', '1K', 1,"
                        " $4, $4, $4, 1, 5500)",
                        f"job-{n}",
                        f"token-{n}",
                        rnd.randint(1, 200),
                        finished,
                    )
            await usage(db, 1, "month", MONTH_END - 1)  # warm the page cache
            started = time.perf_counter()
            report = await usage(db, 1, "month", MONTH_END - 1)
            return time.perf_counter() - started, len(report.days)
        finally:
            await db.close()


def _installed_mib() -> dict[str, float]:
    sizes = {}
    for name in DEPENDENCIES:
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for file in files:
            path = Path(str(file.locate()))
            if path.is_file():
                total += path.stat().st_size
        sizes[name] = total / 2**20
    return sizes


def _run_child(renders: int, out: str, config_dir: str) -> dict[str, Any]:
    env = {**os.environ, "MPLCONFIGDIR": config_dir, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bench.usage_chart_bench", "--child", str(renders), "--out", out],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--out", default=None, help="where to keep the month's PNG")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = args.out or str(Path(tempfile.mkdtemp(prefix="usage-chart-")) / "usage_month.png")
    if args.child is not None:
        print(json.dumps(child(args.child, out)))
        return 0

    print(
        f"matplotlib {metadata.version('matplotlib')}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as config_dir:
        cold = _run_child(args.renders, out, config_dir)  # builds the font list in config_dir
        warm = _run_child(args.renders, out, config_dir)  # finds it built
    times = sorted(warm["render_s"])
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"import (fresh config dir, font list built): {cold['import_s'] * 1000:7.0f} ms")
    print(f"import (font list already built):           {warm['import_s'] * 1000:7.0f} ms")
    print(f"first render of a month (caches cold):      {warm['first_render_s'] * 1000:7.0f} ms")
    print(
        f"render of a month, {len(times)} more:              median "
        f"{statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {times[-1] * 1000:.0f} ms"
    )
    print(
        f"memory (RSS): start {warm['rss_start']:.0f} MiB, imported {warm['rss_imported']:.0f}"
        f" MiB (+{warm['rss_imported'] - warm['rss_start']:.0f}), after first render "
        f"{warm['rss_first_render']:.0f} MiB, after {len(times) + 1} renders "
        f"{warm['rss_after']:.0f} MiB, peak {warm['rss_peak']:.0f} MiB"
    )
    print(f"event loop lag ({warm['tracked_objects']} objects tracked by the collector):")
    for label, (worst, p99, _) in warm["lag"].items():
        print(f"  {label}: 10 ms timer late by p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms")
    seconds, days = asyncio.run(data_time(args.jobs))
    print(
        f"usage() over {args.jobs} jobs in a month (SQLite): {seconds * 1000:.0f} ms, {days} days"
    )
    sizes = _installed_mib()
    listed = ", ".join(f"{name} {mib:.1f}" for name, mib in sizes.items())
    print(f"installed size: {sum(sizes.values()):.0f} MiB ({listed})")
    print(f"PNG: {out} ({warm['png_bytes'] / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
