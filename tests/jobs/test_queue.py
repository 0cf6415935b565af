"""The fair queue: members take turns; a burst from one member never starves another."""

from __future__ import annotations

import asyncio

from bot.jobs.queue import FairQueue


async def test_round_robin_across_members() -> None:
    """Jobs come out one member at a time, FIFO within each member."""
    q = FairQueue()
    for job in ("a1", "a2", "a3"):
        await q.put(1, job)
    await q.put(2, "b1")
    await q.put(3, "c1")
    await q.put(2, "b2")
    assert q.order() == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert [await q.get() for _ in range(6)] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert len(q) == 0


async def test_position_and_remove() -> None:
    """Positions follow the take order and shrink when a job ahead is removed."""
    q = FairQueue()
    await q.put(1, "a1")
    await q.put(1, "a2")
    await q.put(2, "b1")
    assert q.position("a2") == 3
    assert q.position("b1") == 2
    assert q.remove("b1") is True
    assert q.remove("b1") is False
    assert q.position("a2") == 2
    assert q.position("missing") is None
    assert "a1" in q and "b1" not in q


async def test_get_waits_for_put() -> None:
    """get() blocks until a job arrives."""
    q = FairQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    await q.put(7, "x")
    assert await asyncio.wait_for(waiter, 1) == "x"


async def test_newcomer_is_served_before_a_bursting_member_finishes() -> None:
    """A member arriving behind a 50-job burst is second in line, not 51st."""
    q = FairQueue()
    for i in range(50):
        await q.put(1, f"burst{i}")
    await q.put(2, "newcomer")
    assert q.position("newcomer") == 2
