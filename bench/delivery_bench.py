"""Benchmark delivering six-image 4K results: messages, CPU, wall time, peak memory.

The delivery pipeline alone, with the real limits: `download_all` from a local CDN, then
`plan_messages` under Discord's default 10 MiB `attachment_size_limit`, then one multipart
POST per planned message to a local Discord stand-in that enforces the per-token webhook
limit (5 posts per 2 s, answered with 429 and `retry_after`), all inside `DeliverySlots`.
The CDN and the Discord stand-in run in a child process, so the CPU and memory figures are
the delivering process's alone. Nothing here asserts anything about time.

    python -m bench.delivery_bench [--deliveries 20] [--unbounded]

bench/README.md says what each figure means and how it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import resource
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

# The bot's own code (discord.py, the cogs, the engine), loaded but idle, so the baseline
# RSS is closer to the bot's than to a bare interpreter's.
import bot.imagine_bot  # noqa: F401
from bot.images import (
    DeliverySlots,
    DownloadedImage,
    download_all,
    limits,
    plan_messages,
)
from imagine_standins.kie.images import render_image

MIB = 1024 * 1024
LIMIT = 10 * MIB  # Discord's default attachment_size_limit for bots
IMAGES = 6
HOSTS = ("127.0.0.1",)
USER_AGENT = "imagine-bot-bench/1.0"
# Discord's per-token limit on webhook / interaction follow-up posts.
POSTS_PER_WINDOW = 5
WINDOW = 2.0
RSS_TARGET_MIB = 400


# ----- the stand-ins (child process) -------------------------------------------------------


def serve(ready: Any, stop: Any) -> None:
    """Run the CDN and the Discord upload stand-in until `stop` is set (child process)."""
    asyncio.run(_serve(ready, stop))


async def _serve(ready: Any, stop: Any) -> None:
    # kie's stand-in renders 4K results at 4 MiB and more: what the bot receives at 4K.
    images = [render_image("square_hd", "4K", index, large=True) for index in range(IMAGES)]
    windows: dict[str, tuple[float, int]] = {}
    stats = {"posts": 0, "limited": 0, "bytes": 0}

    async def cdn(request: web.Request) -> web.Response:
        index = int(request.match_info["index"])
        return web.Response(body=images[index], content_type="image/jpeg")

    async def post(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        now = time.monotonic()
        start, used = windows.get(token, (now, 0))
        if now - start >= WINDOW:
            start, used = now, 0
        if used >= POSTS_PER_WINDOW:
            stats["limited"] += 1
            retry = start + WINDOW - now
            return web.json_response(
                {"message": "You are being rate limited.", "retry_after": retry, "global": False},
                status=429,
                headers={"Retry-After": f"{retry:.3f}"},
            )
        windows[token] = (start, used + 1)
        body = await request.read()
        stats["posts"] += 1
        stats["bytes"] += len(body)
        return web.json_response({"id": str(stats["posts"]), "size": len(body)})

    async def report(request: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application(client_max_size=64 * MIB)
    app.router.add_get("/cdn/{job}/{index}.jpg", cdn)
    app.router.add_post("/webhooks/{app}/{token}", post)
    app.router.add_get("/stats", report)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    ready.put((port, [len(image) for image in images]))
    await asyncio.to_thread(stop.wait)
    await runner.cleanup()


@contextlib.contextmanager
def stand_ins() -> Iterator[tuple[str, list[int]]]:
    """Start the child process; yield its base URL and the sizes of the six images."""
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    stop = context.Event()
    child = context.Process(target=serve, args=(ready, stop), daemon=True)
    child.start()
    try:
        port, sizes = ready.get(timeout=120)
        yield f"http://127.0.0.1:{port}", sizes
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.terminate()


# ----- measuring ---------------------------------------------------------------------------


def cpu_seconds() -> float:
    """Return this process's CPU time (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    """Return this process's resident memory now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


class PeakRss:
    """The highest RSS during a block: the kernel's high-water mark, reset at the start
    (/proc/self/clear_refs), cross-checked by sampling every 5 ms."""

    def __init__(self) -> None:
        self.before = 0.0
        self.sampled = 0.0
        self.kernel: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        self.before = rss_mib()
        self.sampled = self.before
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
            self.kernel = 0.0
        except OSError:
            self.kernel = None
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.sampled = max(self.sampled, rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.kernel is not None:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        self.kernel = int(line.split()[1]) / 1024

    @property
    def peak(self) -> float:
        """Return the best figure for the peak."""
        return max(self.sampled, self.kernel or 0.0)


# ----- one delivery ------------------------------------------------------------------------


@dataclass
class Delivery:
    """What one delivery did and how long each step took."""

    messages: int = 0
    files: list[int] = field(default_factory=list)
    bytes_posted: int = 0
    reencoded: list[tuple[int, int, int]] = field(default_factory=list)  # width, height, bytes
    retries: int = 0
    download: float = 0.0
    plan: float = 0.0
    post: float = 0.0
    started: float = 0.0
    ended: float = 0.0


async def post_message(
    session: aiohttp.ClientSession, url: str, files: Sequence[tuple[str, bytes, str]]
) -> int:
    """POST one message as discord.py does (payload_json + files[n]); honour 429s.

    Returns how many times the post had to wait for the per-token limit.
    """
    waited = 0
    while True:
        form = aiohttp.FormData()
        form.add_field(
            "payload_json",
            json.dumps({"content": "<@1> here are your images", "attachments": []}),
            content_type="application/json",
        )
        for n, (name, data, content_type) in enumerate(files):
            form.add_field(f"files[{n}]", data, filename=name, content_type=content_type)
        async with session.post(url, data=form) as response:
            if response.status == 429:
                body = await response.json()
                waited += 1
                await asyncio.sleep(float(body["retry_after"]))
                continue
            response.raise_for_status()
            await response.read()
            return waited


async def deliver(
    session: aiohttp.ClientSession, base: str, job: str, slots: DeliverySlots, *, reencode: bool
) -> Delivery:
    """Download six results, plan them (or not: one original per message), post the parts."""
    result = Delivery(started=time.perf_counter())
    async with slots:
        t0 = time.perf_counter()
        urls = [f"{base}/cdn/{job}/{index}.jpg" for index in range(IMAGES)]
        fetched = await download_all(session, urls, allowed_hosts=HOSTS, user_agent=USER_AGENT)
        t1 = time.perf_counter()
        images = [image for image in fetched if isinstance(image, DownloadedImage)]
        if len(images) != IMAGES:
            raise RuntimeError(f"{job}: downloads failed: {fetched}")
        if reencode:
            plan = await plan_messages(fetched, limit_bytes=LIMIT, stem=f"imagine_{job}")
            messages = [[(a.filename, a.data, a.content_type) for a in part] for part in plan]
            for part in plan:
                result.reencoded += [(a.width, a.height, a.size) for a in part if a.reencoded]
            del plan
        else:
            # Before: nothing re-encoded to share a message, so each 4K original went alone.
            messages = [
                [(f"imagine_{n}.jpg", image.data, "image/jpeg")]
                for n, image in enumerate(images, 1)
            ]
        del fetched, images
        t2 = time.perf_counter()
        for files in messages:
            result.retries += await post_message(session, f"{base}/webhooks/1/{job}", files)
            result.messages += 1
            result.files.append(len(files))
            result.bytes_posted += sum(len(data) for _, data, _ in files)
        t3 = time.perf_counter()
    result.download, result.plan, result.post = t1 - t0, t2 - t1, t3 - t2
    result.ended = time.perf_counter()
    return result


async def pure_transfer(session: aiohttp.ClientSession, base: str, job: str) -> float:
    """Move the same bytes with nothing else: GET the six (three at a time), POST them once."""
    began = time.perf_counter()
    gate = asyncio.Semaphore(3)

    async def get(index: int) -> bytes:
        async with gate, session.get(f"{base}/cdn/{job}/{index}.jpg") as response:
            return await response.read()

    bodies = await asyncio.gather(*(get(index) for index in range(IMAGES)))
    files = [(f"x_{n}.jpg", body, "image/jpeg") for n, body in enumerate(bodies)]
    await post_message(session, f"{base}/webhooks/1/{job}", files)
    return time.perf_counter() - began


# ----- scenarios ---------------------------------------------------------------------------


@dataclass
class Measured:
    """A scenario's deliveries with the process's CPU, wall time and memory around them."""

    deliveries: list[Delivery]
    wall: float
    cpu: float
    peak: PeakRss
    after: float


async def measure(run: Callable[[], Awaitable[Sequence[Delivery]]]) -> Measured:
    """Run a scenario and measure it."""
    with PeakRss() as peak:
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        deliveries = list(await run())
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    # Give the heap release that follows the last delivery a moment to run.
    await asyncio.sleep(0.2)
    return Measured(deliveries, wall, cpu, peak, rss_mib())


def percentile(values: Sequence[float], q: float) -> float:
    """Return the nearest-rank q-th percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def describe_one(label: str, m: Measured, transfer: float) -> None:
    """Print a single delivery's figures."""
    [d] = m.deliveries
    sizes = ", ".join(f"{w}x{h} {b / MIB:.2f} MiB" for w, h, b in d.reencoded[:1])
    more = f" (first: {sizes})" if sizes else ""
    print(
        f"  {label}: {d.messages} message(s) of {d.files} files, "
        f"{d.bytes_posted / MIB:.1f} MiB posted, {len(d.reencoded)} re-encoded{more}"
    )
    print(
        f"    wall {m.wall:.2f} s (download {d.download:.2f} + plan {d.plan:.2f} + post "
        f"{d.post:.2f}; {d.retries} wait(s) for the per-token limit) against pure transfer "
        f"{transfer * 1000:.0f} ms"
    )
    print(
        f"    bot CPU {m.cpu:.2f} s; RSS before {m.peak.before:.0f} MiB, peak "
        f"{m.peak.peak:.0f} MiB (+{m.peak.peak - m.peak.before:.0f}), after {m.after:.0f} MiB"
    )


def describe_many(label: str, m: Measured, bound: int) -> None:
    """Print the figures of deliveries that started together."""
    latencies = [d.ended - d.started for d in m.deliveries]
    messages = [d.messages for d in m.deliveries]
    print(
        f"  {label}: {len(m.deliveries)} deliveries started together, at most {bound} at once; "
        f"{sum(messages)} messages ({min(messages)}-{max(messages)} each), "
        f"{sum(d.retries for d in m.deliveries)} waits for the per-token limit"
    )
    print(
        f"    wall {m.wall:.2f} s to the last upload; each delivery p50 "
        f"{percentile(latencies, 50):.2f} s, max {max(latencies):.2f} s; bot CPU {m.cpu:.2f} s"
    )
    target = "PASS" if m.peak.peak <= RSS_TARGET_MIB else "MISS"
    print(
        f"    RSS before {m.peak.before:.0f} MiB, peak {m.peak.peak:.0f} MiB "
        f"(+{m.peak.peak - m.peak.before:.0f}) [{target}: target <= {RSS_TARGET_MIB} MiB], "
        f"after {m.after:.0f} MiB"
    )


async def run(args: argparse.Namespace) -> None:
    """Run the scenarios and print what they measured."""
    if args.image_threads:
        limits.IMAGE_THREADS = args.image_threads
    bound = args.max_deliveries or limits.DEFAULT_MAX_DELIVERIES
    with stand_ins() as (base, sizes):
        print(
            f"six-image 4K delivery: {IMAGES} results of {min(sizes) / MIB:.2f}-"
            f"{max(sizes) / MIB:.2f} MiB ({sum(sizes) / MIB:.1f} MiB), limit {LIMIT / MIB:.0f} MiB "
            f"a message, {limits.IMAGE_THREADS} image thread(s), DeliverySlots({bound})"
        )
        async with aiohttp.ClientSession() as session:
            slots = DeliverySlots(bound)
            # Warm up: imports, thread pools, connections, the child's first responses.
            await deliver(session, base, "warm", slots, reencode=True)
            transfer = min([await pure_transfer(session, base, f"pure{n}") for n in range(3)])
            before = await measure(
                lambda: asyncio.gather(deliver(session, base, "old", slots, reencode=False))
            )
            describe_one("before (one original a message)", before, transfer)
            one = await measure(
                lambda: asyncio.gather(deliver(session, base, "one", slots, reencode=True))
            )
            describe_one("now (re-encoded to share)", one, transfer)
            many = await measure(
                lambda: asyncio.gather(
                    *(
                        deliver(session, base, f"many{n}", slots, reencode=True)
                        for n in range(args.deliveries)
                    )
                )
            )
            describe_many("together", many, bound)
            if args.unbounded:
                free = DeliverySlots(args.deliveries)
                loose = await measure(
                    lambda: asyncio.gather(
                        *(
                            deliver(session, base, f"free{n}", free, reencode=True)
                            for n in range(args.deliveries)
                        )
                    )
                )
                describe_many("together, unbounded", loose, args.deliveries)
            async with session.get(f"{base}/stats") as response:
                stats = await response.json()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"  stand-in: {stats['posts']} posts, {stats['limited']} answered 429; "
        f"machine: {os.cpu_count()} cores ({usable} usable), Python {platform.python_version()}, "
        f"{platform.platform()}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_bench", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=20, help="deliveries started together")
    parser.add_argument("--unbounded", action="store_true", help="also run them all at once")
    parser.add_argument("--max-deliveries", type=int, default=0, help="DeliverySlots bound")
    parser.add_argument("--image-threads", type=int, default=0, help="image thread pool size")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
