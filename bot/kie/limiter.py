"""Process-wide client-side rate limiting for kie.ai (docs/kie-api.md §8).

kie allows 20 createTask per 10 s per account and 10 recordInfo per second per key, and it
rejects (does not queue) anything over. The server counts *arrival* times, which the client
cannot see, so each slot is stamped when its request *finishes* (a time at or after the
arrival) plus a small margin; a new request starts only once fewer than ``max_calls`` stamps
lie inside ``window + margin``. Requests still in flight count as occupying a slot. This
keeps the arrival times under the limit however the network delays individual requests.

Waiters are served strictly first-come, first-served, and nobody polls: a waiter sleeps on a
future until a slot frees up or one timer (one per window, not per waiter) fires.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CREATE_TASK_LIMIT",
    "READ_LIMIT",
    "KieLimiter",
    "RateLimit",
    "SlidingWindowLimiter",
    "Window",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_calls`` requests in any ``window`` seconds, spaced by ``margin`` more."""

    max_calls: int
    window: float
    margin: float = 0.0

    def __post_init__(self) -> None:
        """Refuse limits that could never let a request through."""
        if self.max_calls < 1 or self.window <= 0 or self.margin < 0:
            raise ValueError(f"invalid rate limit {self!r}")


# The stamp (a request's end) already lies after its arrival at kie by the answer's trip
# back, so the margin is only for how kie measures its window; a 0.25 s margin capped the
# line at 20 / 10.25 = 1.951 createTask a second before any delay of ours (issue 11 asks 1.95).
CREATE_TASK_LIMIT = RateLimit(max_calls=20, window=10.0, margin=0.1)
READ_LIMIT = RateLimit(max_calls=10, window=1.0, margin=0.05)


class SlidingWindowLimiter:
    """A FIFO-fair sliding-window limiter over request completion times."""

    def __init__(self, limit: RateLimit, *, name: str = "kie") -> None:
        self.limit = limit
        self.name = name
        self._stamps: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> int:
        """Return how many callers are queued for a slot."""
        return sum(1 for fut in self._waiters if not fut.done())

    @property
    def in_flight(self) -> int:
        """Return how many granted slots have not been released yet."""
        return self._in_flight

    def _span(self) -> float:
        """Return how long a finished request keeps its slot."""
        return self.limit.window + self.limit.margin

    def _prune(self, now: float) -> None:
        """Forget stamps that have left the window."""
        span = self._span()
        while self._stamps and self._stamps[0] + span <= now:
            self._stamps.popleft()

    def _has_room(self) -> bool:
        """Return True when one more request may start now."""
        return len(self._stamps) + self._in_flight < self.limit.max_calls

    def _dispatch(self) -> None:
        """Grant slots to the oldest waiters while there is room; else arm one timer."""
        loop = asyncio.get_running_loop()
        self._prune(loop.time())
        while self._waiters and self._has_room():
            fut = self._waiters.popleft()
            if fut.done():  # cancelled while waiting
                continue
            self._in_flight += 1
            fut.set_result(None)
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()
        if self._waiters and self._stamps and self._timer is None:
            # Room only comes back when the oldest stamp expires or a slot is released.
            when = self._stamps[0] + self._span()
            self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        """Re-check the queue when the oldest stamp leaves the window."""
        self._timer = None
        self._dispatch()

    async def acquire(self) -> None:
        """Wait for a slot, in arrival order."""
        loop = asyncio.get_running_loop()
        self._prune(loop.time())
        if not self._waiters and self._has_room():
            self._in_flight += 1
            return
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        self._dispatch()
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # Granted just as we were cancelled: hand the unused slot back.
                self._in_flight -= 1
                self._dispatch()
            raise

    def release(self, *, sent: bool = True) -> None:
        """Free a slot; a request that was (or may have been) sent keeps it for the window."""
        loop = asyncio.get_running_loop()
        self._in_flight -= 1
        if sent:
            self._stamps.append(loop.time())
        self._dispatch()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for one request; it counts from when the block exits."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


class Window(Protocol):
    """Where a kie request holds its slot: this process's window, or one shared by all
    processes (bot/cluster/limiter.py's SharedWindow, on PostgreSQL)."""

    limit: RateLimit

    @property
    def waiting(self) -> int:
        """Return how many callers of this process wait for a slot."""
        ...

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold a slot for one request; it counts from when the block exits."""
        ...


class KieLimiter:
    """The limiter: one window for createTask, one shared by every read.

    By default both are this process's own; with several processes on one database the
    composition root passes windows shared by all of them (kie's limits are per account).
    """

    def __init__(
        self,
        *,
        create_limit: RateLimit = CREATE_TASK_LIMIT,
        read_limit: RateLimit = READ_LIMIT,
        create: Window | None = None,
        read: Window | None = None,
    ) -> None:
        self.create: Window = create or SlidingWindowLimiter(create_limit, name="createTask")
        # recordInfo, credits and download-url share one budget; kie's 10/s is per key.
        self.read: Window = read or SlidingWindowLimiter(read_limit, name="read")

    def __repr__(self) -> str:
        """Show both limits and their queues."""
        return (
            f"KieLimiter(create={self.create.limit!r} waiting={self.create.waiting}, "
            f"read={self.read.limit!r} waiting={self.read.waiting})"
        )
