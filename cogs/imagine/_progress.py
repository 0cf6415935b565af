"""Progress edits, spaced out: the newest state of each message wins, older ones are dropped.

Discord rate-limits webhook message edits per interaction token and every bot globally
(50 requests/s). A burst of 200 queued members must not turn into 200 edits per queue move,
so one worker sends at most `per_second` edits overall and waits `min_spacing` seconds
between two edits of the same message; intermediate states are coalesced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

__all__ = ["EditPacer"]

log = logging.getLogger(__name__)

Edit = Callable[[], Awaitable[None]]


class EditPacer:
    """Coalesce and pace edits keyed by message."""

    def __init__(self, *, per_second: float = 8.0, min_spacing: float = 2.0) -> None:
        self._pending: OrderedDict[str, Edit] = OrderedDict()
        self._last: dict[str, float] = {}
        self._interval = 1.0 / per_second
        self._min_spacing = min_spacing
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def submit(self, key: str, edit: Edit) -> None:
        """Schedule `edit` for `key`, replacing any edit still waiting for the same key."""
        self._pending[key] = edit
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="progress-edits")

    def forget(self, key: str) -> None:
        """Drop a waiting edit (the job finished; its final message replaces progress)."""
        self._pending.pop(key, None)
        self._last.pop(key, None)

    async def close(self) -> None:
        """Stop the worker."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = time.monotonic()
            key = next(
                (k for k in self._pending if now - self._last.get(k, 0.0) >= self._min_spacing),
                None,
            )
            if key is None:
                soonest = min(self._last.get(k, 0.0) for k in self._pending) + self._min_spacing
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), max(soonest - now, 0.01))
                continue
            edit = self._pending.pop(key)
            self._last[key] = now
            try:
                await edit()
            except Exception as exc:  # noqa: BLE001 - a lost progress edit is cosmetic
                log.debug("progress edit for %s failed: %r", key, exc)
            await asyncio.sleep(self._interval)
