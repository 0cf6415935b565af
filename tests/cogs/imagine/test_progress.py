"""The progress pacer: newest state wins, a fixed budget, state changes before places.

Time is a fake clock here, moved by the pacer's own sleeps: nothing depends on how fast the
machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cogs.imagine._progress import EditPacer


class FakeTime:
    """A clock that moves only when the pacer sleeps between two edits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def pacer(time: FakeTime, **options: float) -> EditPacer:
    return EditPacer(clock=time.clock, sleep=time.sleep, **options)  # type: ignore[arg-type]


def recorder(log: list[str], name: str) -> Callable[[], Awaitable[None]]:
    async def edit() -> None:
        log.append(name)

    return edit


async def settle(p: EditPacer, rounds: int = 50) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_the_newest_edit_of_a_message_wins() -> None:
    time, log = FakeTime(), []
    p = pacer(time)
    for n in range(5):
        p.submit("a", recorder(log, f"a{n}"))
    await settle(p)
    assert log == ["a4"]
    await p.close()


async def test_one_edit_per_interval_whatever_is_submitted() -> None:
    time, log = FakeTime(), []
    p = pacer(time, per_second=10.0)
    for n in range(30):
        p.submit(f"k{n}", recorder(log, f"k{n}"))
    await settle(p, 200)
    assert log == [f"k{n}" for n in range(30)]  # first come, first served
    # Every edit start is followed by the pacer's sleep of 1/per_second before the next.
    assert p.sent == 30
    assert time.sleeps[:29] == [0.1] * 29
    await p.close()


async def test_state_changes_go_first_but_places_get_every_other_slot() -> None:
    time, log = FakeTime(), []
    p = pacer(time)
    for n in range(4):
        p.submit(f"place{n}", recorder(log, f"place{n}"), background=True)
    for n in range(4):
        p.submit(f"state{n}", recorder(log, f"state{n}"))
    await settle(p, 200)
    assert sorted(log) == sorted(
        [*(f"place{n}" for n in range(4)), *(f"state{n}" for n in range(4))]
    )
    # Alternating while both lanes wait; state changes first.
    assert log[:2] in (["state0", "place0"], ["place0", "state0"])
    assert [x for x in log if x.startswith("state")] == [f"state{n}" for n in range(4)]
    await p.close()


async def test_a_place_update_overtaken_by_a_state_change_goes_in_the_first_lane() -> None:
    time, log = FakeTime(), []
    p = pacer(time)
    for n in range(6):
        p.submit(f"place{n}", recorder(log, f"place{n}"), background=True)
    p.submit("place5", recorder(log, "state5"))  # the same message, now a state change
    p.submit("state0", recorder(log, "state0"))
    await settle(p, 200)
    assert log.index("state5") < log.index("place1")
    assert "place5" not in log
    await p.close()


async def test_a_message_is_not_edited_again_within_min_spacing() -> None:
    time, log = FakeTime(), []
    stamps: list[float] = []
    p = pacer(time, per_second=10.0, min_spacing=2.0)

    def stamped(name: str) -> Callable[[], Awaitable[None]]:
        async def edit() -> None:
            log.append(name)
            stamps.append(time.now)

        return edit

    p.submit("a", stamped("a1"))
    await settle(p)
    p.submit("a", stamped("a2"))  # too soon: waits, while others go
    for n in range(40):
        p.submit(f"k{n}", stamped(f"k{n}"))
    await settle(p, 400)
    assert "a2" in log
    assert stamps[log.index("a2")] - stamps[log.index("a1")] >= 2.0
    # ...and it went as soon as it could, not behind everything that came after it.
    assert log.index("a2") <= 22
    await p.close()


async def test_forgotten_edits_never_run() -> None:
    time, log = FakeTime(), []
    p = pacer(time)
    p.submit("a", recorder(log, "a"))
    p.submit("b", recorder(log, "b"), background=True)
    p.forget("a")
    p.forget("b")
    await settle(p)
    assert log == []
    assert len(p) == 0
    await p.close()


async def test_a_failing_edit_is_dropped_and_the_next_goes() -> None:
    time, log = FakeTime(), []
    p = pacer(time)

    async def broken() -> None:
        raise RuntimeError("Discord said no")

    p.submit("a", broken)
    p.submit("b", recorder(log, "b"))
    await settle(p)
    assert log == ["b"]
    await p.idle("a")
    await p.close()
