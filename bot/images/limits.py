"""Bounds on what image deliveries may hold at once: deliveries, decoded pictures, heap.

Three limits keep a burst of 4K results from taking the host's memory:

- :class:`DeliverySlots` (one per process, held by whoever delivers) bounds the deliveries in
  progress, so only a few jobs' downloaded images (about 33 MiB for six 4K results) are held
  at once; the others wait their turn before downloading anything.
- :func:`run_in_image_thread` runs the heavy pixel work (estimating, re-encoding, checking a
  PNG or WebP, which means decoding it whole; a JPEG is checked at 1/8 scale elsewhere) on
  one process-wide pool of :data:`IMAGE_THREADS` threads, which bounds both the CPU it takes and
  the pictures decoded at once: a decoded 4K picture takes 64 MiB (Pillow keeps RGB in four
  bytes a pixel) and its resized copy up to as much again. Work waits in the pool's queue,
  not in a parked thread, so asyncio's default executor (which aiohttp uses to resolve host
  names) is never filled with image work.
- The C heap: glibc raises its mmap threshold after the first large free, so later buffers
  of a few MiB (image bytes, Pillow's blocks) land in heap arenas that are rarely handed
  back, and RSS stays at its peak after a burst. :func:`release_heap` hands free arena
  pages back (glibc's malloc_trim; nothing elsewhere), and DeliverySlots calls it when the
  last delivery in progress ends. Fixing the mmap threshold instead would return memory at
  once, but measured on six-image 4K plans it took 50 times the page faults (5.4 s of
  system CPU against 0.24 s for twelve plans) for the same peak.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import ParamSpec, TypeVar

__all__ = [
    "DEFAULT_MAX_DELIVERIES",
    "IMAGE_THREADS",
    "DeliverySlots",
    "release_heap",
    "run_in_image_thread",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Two pictures worked on at a time: two cores busy, and at most two 4K pictures decoded
# (64 MiB each; up to 118 MiB while one is resized for a message of its own).
IMAGE_THREADS = 2
# Deliveries in progress at once per process. Each holds its downloaded originals (about
# 33 MiB for six 4K results) and its planned messages (at most one upload limit per message);
# re-encoding is bounded by DECODE_SLOTS whatever this is, so more would not go faster.
DEFAULT_MAX_DELIVERIES = 3


def _load_libc() -> ctypes.CDLL | None:
    """Return glibc if this process runs on it (it has malloc_trim), else None."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "malloc_trim"):
        return None
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


_LIBC = _load_libc()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _image_executor() -> ThreadPoolExecutor:
    """Return the process's image thread pool, made on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(IMAGE_THREADS, thread_name_prefix="images")
        return _executor


async def run_in_image_thread(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking pixel work `func(*args, **kwargs)` on the image thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_image_executor(), functools.partial(func, *args, **kwargs))


def release_heap() -> bool:
    """Hand free pages of the C heap back to the system; returns whether it did anything."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))


class DeliverySlots:
    """Bounds the deliveries in progress in one process; hold one per process.

    Use as ``async with slots:`` around a whole delivery, downloads included, so that a
    waiting delivery holds no image bytes. Waiters are served in arrival order. When the
    last delivery in progress ends, free heap pages are handed back (in a worker thread).
    """

    def __init__(
        self, max_deliveries: int = DEFAULT_MAX_DELIVERIES, *, manage_heap: bool = True
    ) -> None:
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self.max_deliveries = max_deliveries
        self.manage_heap = manage_heap
        self._semaphore = asyncio.Semaphore(max_deliveries)
        self._active = 0
        self._waiting = 0

    @property
    def active(self) -> int:
        """Return how many deliveries are in progress."""
        return self._active

    @property
    def waiting(self) -> int:
        """Return how many deliveries wait for a slot."""
        return self._waiting

    async def __aenter__(self) -> DeliverySlots:
        """Wait for a slot."""
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        self._active += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Free the slot; when nothing is delivering any more, give free memory back."""
        self._active -= 1
        self._semaphore.release()
        if self.manage_heap and self._active == 0 and self._waiting == 0:
            # Not awaited: a cancelled delivery must not wait, and nobody needs the result.
            task = asyncio.get_running_loop().run_in_executor(None, release_heap)
            task.add_done_callback(_ignore_result)

    def __repr__(self) -> str:
        """Show the bound and the current use."""
        return (
            f"DeliverySlots(max_deliveries={self.max_deliveries}, active={self._active}, "
            f"waiting={self._waiting})"
        )


def _ignore_result(future: asyncio.Future[bool]) -> None:
    """Retrieve a background trim's outcome so a failure is logged, not left unretrieved."""
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("Releasing heap memory failed: %r", exc)
