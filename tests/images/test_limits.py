"""Bounds on deliveries and image work: DeliverySlots, the image threads, the C heap."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.images import limits
from bot.images.limits import (
    DEFAULT_MAX_DELIVERIES,
    DeliverySlots,
    release_heap,
    run_in_image_thread,
)


async def settle() -> None:
    """Let every ready task run until none is left to wake (no wall-clock sleep)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_slots_bound_the_deliveries_in_progress() -> None:
    """No more than max_deliveries run at once; the rest wait, and all of them finish."""
    slots = DeliverySlots(3, manage_heap=False)
    gate = asyncio.Event()
    running = 0
    most = 0

    async def deliver() -> None:
        nonlocal running, most
        async with slots:
            running += 1
            most = max(most, running)
            await gate.wait()
            running -= 1

    tasks = [asyncio.create_task(deliver()) for _ in range(10)]
    await settle()
    assert (slots.active, slots.waiting, running) == (3, 7, 3)
    gate.set()
    await asyncio.gather(*tasks)
    assert most == 3
    assert (slots.active, slots.waiting) == (0, 0)


async def test_slots_serve_waiters_in_arrival_order() -> None:
    """A delivery that waited longer gets the next free slot."""
    slots = DeliverySlots(1, manage_heap=False)
    order: list[int] = []
    release = asyncio.Event()

    async def deliver(n: int) -> None:
        async with slots:
            order.append(n)
            if n == 0:
                await release.wait()

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(deliver(n)))
        await settle()
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_a_failed_or_cancelled_delivery_gives_its_slot_back() -> None:
    """Errors inside, and cancellation while waiting, never leak a slot."""
    slots = DeliverySlots(1, manage_heap=False)
    with pytest.raises(RuntimeError):
        async with slots:
            raise RuntimeError("post failed")
    assert slots.active == 0

    hold = asyncio.Event()

    async def holder() -> None:
        async with slots:
            await hold.wait()

    async def waiter() -> None:
        async with slots:
            pass

    first = asyncio.create_task(holder())
    await settle()
    second = asyncio.create_task(waiter())
    await settle()
    assert slots.waiting == 1
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert slots.waiting == 0
    hold.set()
    await first
    async with slots:
        assert slots.active == 1


async def test_the_last_delivery_out_hands_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """When nothing is delivering any more, free heap pages are released (off the loop)."""
    calls: list[str] = []
    done = threading.Event()

    def fake_release() -> bool:
        calls.append(threading.current_thread().name)
        done.set()
        return True

    monkeypatch.setattr(limits, "release_heap", fake_release)
    slots = DeliverySlots(2)
    async with slots:
        async with slots:
            pass
        assert calls == []
    await asyncio.to_thread(done.wait, 5)
    assert len(calls) == 1
    assert calls[0] != threading.main_thread().name


def test_nonsense_bounds_are_refused() -> None:
    """At least one delivery must be allowed."""
    with pytest.raises(ValueError, match="max_deliveries"):
        DeliverySlots(0)
    assert DeliverySlots(manage_heap=False).max_deliveries == DEFAULT_MAX_DELIVERIES
    assert "active=0" in repr(DeliverySlots(manage_heap=False))


async def test_image_work_runs_on_the_image_threads() -> None:
    """Pixel work runs off the event loop's thread, on the small pool of image threads."""
    names = await asyncio.gather(
        *(run_in_image_thread(lambda: threading.current_thread().name) for _ in range(8))
    )
    assert all(name.startswith("images") for name in names)
    assert len(set(names)) <= limits.IMAGE_THREADS


def test_releasing_the_heap_is_safe_to_call_any_time() -> None:
    """Releasing the heap reports whether it could act, and may be called again."""
    assert isinstance(release_heap(), bool)
    assert isinstance(release_heap(), bool)
