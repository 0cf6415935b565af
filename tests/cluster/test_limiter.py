"""Limits shared by processes: however many ask at once, no window holds more than the limit."""

from __future__ import annotations

import asyncio
import time

from bot.cluster.limiter import LocalLimiter, SharedLimiter
from bot.kie.limiter import RateLimit
from tests.cluster.conftest import OpenDb

LIMIT = RateLimit(max_calls=5, window=0.5, margin=0.02)


def _most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_acquire_holds_the_limit_across_processes(open_pg: OpenDb) -> None:
    limiters = [SharedLimiter(await open_pg(), {"b": LIMIT}, block=3) for _ in range(3)]
    sent: list[float] = []

    async def caller(limiter: SharedLimiter, n: int) -> None:
        for _ in range(4):
            await limiter.acquire("b", n)
            sent.extend([time.monotonic()] * n)

    await asyncio.gather(*(caller(lim, n) for lim in limiters for n in (1, 2)))
    assert len(sent) == 3 * 4 * 3
    assert _most_in_any_window(sent, LIMIT.window) <= LIMIT.max_calls
    # Several windows' worth went through: the limiter lets the limit through, not less.
    assert _most_in_any_window(sent, LIMIT.window * 1.5) >= LIMIT.max_calls


async def test_slots_count_in_flight_requests_and_free_a_window_after_they_end(
    open_pg: OpenDb,
) -> None:
    one = SharedLimiter(await open_pg(), {"b": LIMIT})
    two = SharedLimiter(await open_pg(), {"b": LIMIT})
    release = asyncio.Event()
    holding: asyncio.Queue[None] = asyncio.Queue()

    async def hold(limiter: SharedLimiter) -> None:
        async with limiter.slot("b"):
            holding.put_nowait(None)
            await release.wait()

    holders = [asyncio.create_task(hold(lim)) for lim in (one, two, one, two, one)]
    for _ in range(5):
        await holding.get()
    late = asyncio.create_task(two.acquire("b"))
    await asyncio.sleep(LIMIT.window * 2)
    assert not late.done()  # five requests in flight fill the bucket however long they take
    ended = time.monotonic()
    release.set()
    await asyncio.gather(*holders)
    await late
    assert time.monotonic() - ended >= LIMIT.window  # their room frees a window after they end


async def test_a_grant_of_a_dead_process_frees_by_itself(open_pg: OpenDb) -> None:
    db = await open_pg()
    dead = SharedLimiter(db, {"b": LIMIT}, hold=0.3)
    for _ in range(LIMIT.max_calls):
        await dead._grant("b", 1, dead.hold)  # taken for requests that never end
    alive = SharedLimiter(await open_pg(), {"b": LIMIT})
    started = time.monotonic()
    await alive.acquire("b")
    assert 0.25 <= time.monotonic() - started < 5


async def test_the_local_limiter_is_the_in_process_window() -> None:
    limiter = LocalLimiter({"b": RateLimit(max_calls=3, window=0.2)})
    sent = []
    for _ in range(6):
        await limiter.acquire("b")
        sent.append(time.monotonic())
    assert _most_in_any_window(sent, 0.2) <= 3
    assert sent[-1] - sent[0] >= 0.2
