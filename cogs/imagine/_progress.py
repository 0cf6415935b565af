"""Progress edits, paced: a fixed budget a second, the newest state of each message wins.

Discord limits edits per interaction token (about one a second) and every bot overall, and
progress is cosmetic: acknowledgements and results never wait for it (they do not come
through here). So one worker starts at most `per_second` edits a second, whatever is
submitted, and never edits the same message twice within `min_spacing` seconds or while its
previous edit is still under way; an edit submitted for a message that already has one
waiting replaces it in its place.

Two lanes: state changes (sent to kie, kie's state, downloading, posting) go first; place
updates (`background=True`) share the budget with them, every other slot while both wait.
Every operation is O(1) or O(log n) in the number of messages waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

__all__ = ["EditPacer"]

log = logging.getLogger(__name__)

Edit = Callable[[], Awaitable[None]]


class EditPacer:
    """Coalesce and pace edits keyed by message."""

    def __init__(
        self,
        *,
        per_second: float = 12.0,
        min_spacing: float = 2.0,
        concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / per_second
        self._min_spacing = min_spacing
        self._clock = clock
        self._sleep = sleep
        self._edits: dict[str, Edit] = {}  # the newest edit waiting, per key
        self._background: dict[str, bool] = {}  # whether that edit is only a place update
        # Keys ready to go, in the order they first waited (values unused).
        self._lanes: tuple[OrderedDict[str, None], OrderedDict[str, None]] = (
            OrderedDict(),
            OrderedDict(),
        )
        # Keys edited too recently or still being edited: (when they may go, tie, key).
        self._cooling: list[tuple[float, int, str]] = []
        self._cooling_keys: set[str] = set()
        self._tie = itertools.count()
        self._last: dict[str, float] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._turn = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0  # edits started, for tests and benchmarks

    def __len__(self) -> int:
        """Return how many messages have an edit waiting."""
        return len(self._edits)

    def submit(self, key: str, edit: Edit, *, background: bool = False) -> None:
        """Schedule `edit` for `key`, replacing any edit still waiting for the same key.

        `background`: a place update, which may yield to state changes.
        """
        waiting = key in self._edits
        self._edits[key] = edit
        was_background = self._background.get(key, True)
        self._background[key] = background and (was_background if waiting else True)
        if key not in self._cooling_keys:
            if waiting and was_background and not self._background[key]:
                self._lanes[1].pop(key, None)  # promoted: it now carries a state change
            self._lanes[1 if self._background[key] else 0].setdefault(key)
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="progress-edits")

    def forget(self, key: str) -> None:
        """Drop a waiting edit (the job finished; its final message replaces progress)."""
        self._edits.pop(key, None)
        self._background.pop(key, None)
        self._last.pop(key, None)
        for lane in self._lanes:
            lane.pop(key, None)
        self._cooling_keys.discard(key)  # its heap entry is skipped when it comes up

    async def idle(self, key: str) -> None:
        """Wait until no edit of `key` is under way (call after forget, before a final edit)."""
        task = self._running.get(key)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def close(self) -> None:
        """Stop the worker and the edits under way."""
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- inside ----------------------------------------------------------------------------

    def _ripen(self, now: float) -> float | None:
        """Put cooled keys back at the front of their lane; return when the next one cools."""
        while self._cooling and self._cooling[0][0] <= now:
            _, _, key = heapq.heappop(self._cooling)
            if key not in self._cooling_keys:
                continue  # forgotten meanwhile
            self._cooling_keys.discard(key)
            if key in self._edits:
                lane = self._lanes[1 if self._background[key] else 0]
                lane[key] = None
                lane.move_to_end(key, last=False)  # it has waited its turn already
        return self._cooling[0][0] if self._cooling else None

    def _pick(self, now: float) -> str | None:
        """Return the next key that may be edited now, or None."""
        while True:
            normal, background = self._lanes
            if normal and background:
                self._turn ^= 1
                lane = background if self._turn else normal
            else:
                lane = normal or background
            if not lane:
                return None
            key, _ = lane.popitem(last=False)
            ready_at = self._last.get(key, -1e18) + self._min_spacing
            if key in self._running:
                ready_at = max(ready_at, now + self._min_spacing / 4)
            if ready_at <= now:
                return key
            heapq.heappush(self._cooling, (ready_at, next(self._tie), key))
            self._cooling_keys.add(key)

    async def _run(self) -> None:
        while True:
            # A slot first, then the key: an edit is never picked and then held back.
            await self._slots.acquire()
            try:
                key = await self._next()
            except BaseException:
                self._slots.release()
                raise
            edit = self._edits.pop(key)
            self._background.pop(key, None)
            self._last[key] = self._clock()
            self._running[key] = asyncio.create_task(self._send(key, edit))
            self.sent += 1
            await self._sleep(self._interval)

    async def _next(self) -> str:
        while True:
            now = self._clock()
            next_cool = self._ripen(now)
            key = self._pick(now)
            if key is not None:
                return key
            self._wakeup.clear()
            timeout = None if next_cool is None else max(next_cool - now, 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _send(self, key: str, edit: Edit) -> None:
        try:
            await edit()
        except Exception as exc:  # noqa: BLE001 - a lost progress edit is cosmetic
            log.debug("progress edit for %s failed: %r", key, exc)
        finally:
            self._slots.release()
            if self._running.get(key) is asyncio.current_task():
                del self._running[key]
