"""Steps written once run the same on the image threads and in the calling thread."""

from __future__ import annotations

import functools
import threading

import pytest

from bot.images.pixel_work import Steps, run_blocking, run_on_image_threads


def _square(value: int) -> tuple[int, str]:
    """Square `value`, noting the thread that did it."""
    return value * value, threading.current_thread().name


def _steps(log: list[str]) -> Steps[list[int]]:
    """Two batches (the second built from the first's results), then an empty one."""
    first: list[tuple[int, str]] = yield [functools.partial(_square, n) for n in (1, 2, 3)]
    log.extend(name for _, name in first)
    second: list[tuple[int, str]] = yield [functools.partial(_square, n) for n, _ in first]
    assert (yield []) == []
    return [n for n, _ in second]


async def test_both_runners_give_the_same_outcome() -> None:
    """Results come back in order, batch by batch; only the threads that did the work differ."""
    here: list[str] = []
    there: list[str] = []
    assert run_blocking(_steps(here)) == [1, 16, 81]
    assert await run_on_image_threads(_steps(there)) == [1, 16, 81]
    assert set(here) == {threading.current_thread().name}
    assert all(name.startswith("images") for name in there)


def _fails() -> int:
    """Fail as a broken picture would."""
    raise ValueError("no")


def _failing(closed: list[bool]) -> Steps[int]:
    """One batch whose call raises; note whether the steps were closed."""
    try:
        yield [_fails]
    except GeneratorExit:
        closed.append(True)
        raise
    return 0


async def test_a_failing_call_raises_and_closes_the_steps() -> None:
    """The call's own exception reaches the caller, and the steps are closed at once."""
    blocking: list[bool] = []
    with pytest.raises(ValueError, match="no"):
        run_blocking(_failing(blocking))
    threaded: list[bool] = []
    with pytest.raises(ValueError, match="no"):
        await run_on_image_threads(_failing(threaded))
    assert blocking == threaded == [True]
