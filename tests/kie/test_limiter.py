"""Tests for the client-side sliding-window limiter (no network)."""

from __future__ import annotations

import asyncio

import pytest

from bot.kie import CREATE_TASK_LIMIT, READ_LIMIT, KieLimiter, RateLimit
from bot.kie.limiter import SlidingWindowLimiter


class CountingLimiter(SlidingWindowLimiter):
    """A limiter that counts how often it wakes up."""

    def __init__(self, limit: RateLimit) -> None:
        super().__init__(limit)
        self.dispatches = 0
        self.timer_fires = 0

    def _dispatch(self) -> None:
        """Count, then dispatch."""
        self.dispatches += 1
        super()._dispatch()

    def _on_timer(self) -> None:
        """Count, then handle the timer."""
        self.timer_fires += 1
        super()._on_timer()


def max_in_span(times: list[float], span: float) -> int:
    """Return the most times that fall within any interval shorter than ``span``."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_default_limits_match_kie() -> None:
    """The defaults are kie's documented limits, with a margin."""
    assert (CREATE_TASK_LIMIT.max_calls, CREATE_TASK_LIMIT.window) == (20, 10.0)
    assert (READ_LIMIT.max_calls, READ_LIMIT.window) == (10, 1.0)
    assert CREATE_TASK_LIMIT.margin > 0
    assert READ_LIMIT.margin > 0
    limiter = KieLimiter()
    assert limiter.create.limit == CREATE_TASK_LIMIT
    assert limiter.read.limit == READ_LIMIT


@pytest.mark.parametrize(
    ("max_calls", "window", "margin"), [(0, 1.0, 0.0), (1, 0.0, 0.0), (1, 1.0, -0.1)]
)
def test_rate_limit_rejects_nonsense(max_calls: int, window: float, margin: float) -> None:
    """A limit that could never admit a request is refused."""
    with pytest.raises(ValueError, match="invalid rate limit"):
        RateLimit(max_calls, window, margin)


async def test_slot_counts_from_release() -> None:
    """A slot comes back only a full window (plus margin) after its request finished."""
    loop = asyncio.get_running_loop()
    limiter = SlidingWindowLimiter(RateLimit(2, 0.2, margin=0.05))
    await limiter.acquire()
    await limiter.acquire()
    third = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.4)
    assert not third.done(), "in-flight requests must keep their slots"
    released_at = loop.time()
    limiter.release()
    await third
    assert loop.time() - released_at >= 0.25 - 0.01
    assert limiter.in_flight == 2


async def test_fifo_order() -> None:
    """Waiters are served in the order they arrived."""
    limiter = SlidingWindowLimiter(RateLimit(3, 0.05))
    order: list[int] = []

    async def worker(i: int) -> None:
        async with limiter.slot():
            order.append(i)

    tasks = []
    for i in range(30):
        tasks.append(asyncio.create_task(worker(i)))
        await asyncio.sleep(0)  # make arrival order explicit
    await asyncio.gather(*tasks)
    assert order == list(range(30))


async def test_new_caller_does_not_jump_the_queue() -> None:
    """A caller arriving while others wait queues behind them even if room appears."""
    limiter = SlidingWindowLimiter(RateLimit(1, 0.05))
    order: list[str] = []
    await limiter.acquire()

    async def worker(name: str) -> None:
        await limiter.acquire()
        order.append(name)
        limiter.release()

    first = asyncio.create_task(worker("first"))
    await asyncio.sleep(0)
    limiter.release()
    second = asyncio.create_task(worker("second"))
    await asyncio.gather(first, second)
    assert order == ["first", "second"]


async def test_cancelled_waiter_frees_its_place() -> None:
    """A cancelled waiter consumes no slot and the next waiter is served."""
    limiter = SlidingWindowLimiter(RateLimit(1, 0.05))
    await limiter.acquire()
    doomed = asyncio.create_task(limiter.acquire())
    survivor = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    doomed.cancel()
    limiter.release(sent=False)
    await asyncio.wait_for(survivor, 1.0)
    assert doomed.cancelled()
    assert limiter.in_flight == 1
    assert limiter.waiting == 0


async def test_unsent_release_returns_slot_at_once() -> None:
    """A slot released with sent=False is available immediately."""
    limiter = SlidingWindowLimiter(RateLimit(1, 60.0))
    await limiter.acquire()
    limiter.release(sent=False)
    await asyncio.wait_for(limiter.acquire(), 0.5)


async def test_blocked_waiters_do_not_poll() -> None:
    """300 waiters blocked on in-flight slots cost nothing until a slot is released."""
    limiter = CountingLimiter(RateLimit(5, 0.05))
    for _ in range(5):
        await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(300)]
    await asyncio.sleep(0.01)
    assert limiter.waiting == 300
    woke = limiter.dispatches
    await asyncio.sleep(0.3)
    assert limiter.dispatches == woke
    assert limiter.timer_fires == 0
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)


async def test_300_waiters_respect_the_window() -> None:
    """300 concurrent users never get more than max_calls grants in any window."""
    loop = asyncio.get_running_loop()
    limit = RateLimit(50, 0.05, margin=0.005)
    limiter = CountingLimiter(limit)
    granted: list[float] = []

    async def worker() -> None:
        async with limiter.slot():
            granted.append(loop.time())
            await asyncio.sleep(0.001)

    await asyncio.gather(*(worker() for _ in range(300)))
    assert len(granted) == 300
    assert max_in_span(granted, limit.window) <= limit.max_calls
    # Wake-ups are bounded by the number of requests, not by elapsed time.
    assert limiter.timer_fires <= 300
