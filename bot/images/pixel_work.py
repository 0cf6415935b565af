"""Pixel work written once and run two ways: on the image threads, or in the calling thread.

A step function is a generator that yields batches of blocking calls (profiling, re-encoding)
and is sent back their results, in order; what it returns is the outcome. The planner
(bot/images/fit.py) and the part builder (bot/images/part_builder.py) are written that way,
so the async entry points and their ``_blocking`` twins make the very same decisions and
therefore the same bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.images.limits import run_in_image_thread

__all__ = ["Steps", "run_blocking", "run_on_image_threads"]

T = TypeVar("T")

# Yields batches of calls, is sent their results, returns the outcome.
Steps = Generator[list[Callable[[], Any]], list[Any], T]


@dataclass(frozen=True)
class _Done(Generic[T]):
    value: T


def _resume(steps: Steps[T], results: list[Any] | None) -> list[Callable[[], Any]] | _Done[T]:
    """Start `steps` (no results yet) or hand it a batch's results; return its next batch."""
    try:
        return next(steps) if results is None else steps.send(results)
    except StopIteration as done:
        return _Done(done.value)


def run_blocking(steps: Steps[T]) -> T:
    """Run every batch in the calling thread, one call after another."""
    try:
        step = _resume(steps, None)
        while not isinstance(step, _Done):
            step = _resume(steps, [call() for call in step])
        return step.value
    finally:
        steps.close()


async def run_on_image_threads(steps: Steps[T]) -> T:
    """Run each batch's calls in parallel on the image threads, waiting for the whole batch."""
    try:
        step = _resume(steps, None)
        while not isinstance(step, _Done):
            found = await asyncio.gather(*(run_in_image_thread(call) for call in step))
            step = _resume(steps, list(found))
        return step.value
    finally:
        steps.close()
