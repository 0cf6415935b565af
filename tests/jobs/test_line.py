"""The line: turns across members, per-member kie limit, places, all checked against a
brute-force reference on random operations (no timing is asserted anywhere)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Hashable
from dataclasses import dataclass

import pytest

from bot.jobs.line import Line, member_of
from bot.jobs.models import Job, JobOptions, JobState
from bot.kie import ImageSize, Resolution

GUILD = 1


def make_job(user: int, n: int, *, guild: int = GUILD) -> Job:
    """Return a waiting job of `user`'s; its id says whose and which."""
    return Job(
        id=f"u{user}-{n}",
        callback_token="t",
        guild_id=guild,
        channel_id=2,
        user_id=user,
        state=JobState.QUEUED,
        options=JobOptions(
            prompt="p", size=ImageSize.SQUARE_HD, resolution=Resolution.R1K, images=1
        ),
        created_at=0.0,
        updated_at=0.0,
    )


def drain(line: Line) -> list[str]:
    out = []
    while (job := line.take_nowait()) is not None:
        out.append(job.id)
    return out


# -- the rules, by example -----------------------------------------------------------------


def test_members_take_turns_first_come_first_served_within_a_member() -> None:
    line = Line(max_at_kie=10)
    for n in range(3):
        line.put(make_job(1, n))
    line.put(make_job(2, 0))
    line.put(make_job(3, 0))
    line.put(make_job(2, 1))
    expected = ["u1-0", "u2-0", "u3-0", "u1-1", "u2-1", "u1-2"]
    assert line.order() == expected
    assert [line.place(j) for j in expected] == [1, 2, 3, 4, 5, 6]
    assert drain(line) == expected
    assert len(line) == 0


def test_a_newcomer_behind_a_burst_is_second_not_fifty_first() -> None:
    line = Line(max_at_kie=2)
    for n in range(50):
        line.put(make_job(1, n))
    assert line.put(make_job(2, 0)) == 2
    assert line.place("u2-0") == 2


def test_a_member_at_the_kie_limit_is_skipped_and_keeps_their_places() -> None:
    line = Line(max_at_kie=2)
    for n in range(4):
        line.put(make_job(1, n))
    line.put(make_job(2, 0))
    assert [line.take_nowait().id for _ in range(3)] == ["u1-0", "u2-0", "u1-1"]  # type: ignore[union-attr]
    # Member 1 has two at kie: their next two wait, in front, but are not taken.
    assert line.order() == ["u1-2", "u1-3"]
    assert line.place("u1-2") == 1
    assert line.take_nowait() is None
    line.put(make_job(3, 0))
    assert line.take_nowait().id == "u3-0"  # type: ignore[union-attr]
    # One of member 1's jobs leaves kie: their next one goes at once.
    assert line.remove("u1-0") is False
    assert line.take_nowait().id == "u1-2"  # type: ignore[union-attr]
    assert line.take_nowait() is None


def test_not_now_puts_a_job_back_in_its_place() -> None:
    line = Line(max_at_kie=2)
    line.put(make_job(1, 0))
    line.put(make_job(1, 1))
    line.put(make_job(2, 0))
    first = line.take_nowait()
    assert first is not None and first.id == "u1-0"
    line.put(make_job(3, 0))
    assert line.put_back("u1-0") == 1
    assert line.order() == ["u1-0", "u2-0", "u3-0", "u1-1"]
    assert line.put_back("u1-0") is None  # not at kie any more
    assert line.at_kie == 0


def test_cancel_while_waiting_and_unknown_ids() -> None:
    line = Line(max_at_kie=2)
    line.put(make_job(1, 0))
    line.put(make_job(1, 1))
    line.put(make_job(2, 0))
    assert line.place("u1-1") == 3
    assert line.remove("u2-0") is True
    assert line.remove("u2-0") is False
    assert line.remove("never") is False
    assert line.place("u1-1") == 2
    assert line.place("u2-0") is None
    assert "u1-0" in line and "u2-0" not in line


def test_jobs_held_at_start_count_against_the_limit() -> None:
    line = Line(max_at_kie=2)
    held = [make_job(1, 0), make_job(1, 1)]
    for job in held:
        line.hold(job)
    line.put(make_job(1, 2))
    line.put(make_job(2, 0))
    assert line.take_nowait().id == "u2-0"  # type: ignore[union-attr]
    assert line.take_nowait() is None
    line.remove("u1-0")
    assert line.take_nowait().id == "u1-2"  # type: ignore[union-attr]
    # A held job that kie turns away joins the line at the front of its member's jobs.
    line.put(make_job(1, 3))
    assert line.put_back("u1-1") == 1
    assert line.order() == ["u1-1", "u1-3"]


def test_the_same_user_in_two_servers_is_two_members() -> None:
    line = Line(max_at_kie=1)
    line.put(make_job(1, 0, guild=1))
    line.put(make_job(1, 1, guild=2))
    assert member_of(make_job(1, 0, guild=1)) != member_of(make_job(1, 0, guild=2))
    assert len(drain(line)) == 2


def test_putting_or_holding_a_known_job_again_changes_nothing() -> None:
    line = Line(max_at_kie=1)
    line.put(make_job(1, 0))
    line.put(make_job(1, 1))
    assert line.put(make_job(1, 1)) == 2  # waiting: keeps its place
    assert line.order() == ["u1-0", "u1-1"]
    line.take_nowait()
    assert line.put(make_job(1, 0)) is None  # taken: stays taken
    line.hold(make_job(1, 0))
    assert line.at_kie == 1
    assert line.order() == ["u1-1"]


def test_own_counts_jobs_ahead_and_at_kie() -> None:
    line = Line(max_at_kie=2)
    for n in range(4):
        line.put(make_job(1, n))
    line.take_nowait()
    assert line.own("u1-3") == (2, 1)
    assert line.own("gone") == (0, 0)
    assert [(p, j.id) for p, j in line.front(2)] == [(1, "u1-1"), (2, "u1-2")]


async def test_take_waits_for_a_job_a_member_may_send() -> None:
    line = Line(max_at_kie=1)
    line.hold(make_job(1, 0))
    line.put(make_job(1, 1))
    waiter = asyncio.create_task(line.take())
    await asyncio.sleep(0)
    assert not waiter.done()  # member 1 is at the limit
    line.remove("u1-0")
    assert (await asyncio.wait_for(waiter, 1)).id == "u1-1"


# -- fairness ------------------------------------------------------------------------------


def test_a_member_with_many_jobs_delays_a_first_job_by_one_round_at_most() -> None:
    """However the line was filled, a member's first job has at most one job of each other
    member ahead of it that can be taken, so it goes within one round of takes."""
    rng = random.Random(11)
    for _ in range(200):
        line = Line(max_at_kie=rng.randint(1, 3))
        users = rng.randint(1, 8)
        for n in range(rng.randint(0, 40)):
            line.put(make_job(rng.randrange(users), n))
            if rng.random() < 0.3:
                line.take_nowait()
        newcomer = make_job(99, 0)
        line.put(newcomer)
        takes = 0
        others = users
        while (job := line.take_nowait()) is not None and job.id != newcomer.id:
            takes += 1
        # No kie slot frees meanwhile: at most one job of each other member goes first.
        assert job is not None and job.id == newcomer.id
        assert takes <= others


# -- against a brute-force reference -------------------------------------------------------


@dataclass
class _Entry:
    job: Job
    tag: tuple[int, int] | None
    waiting: bool


class Reference:
    """The same rules, written the slow and obvious way: lists, sorting, scans."""

    def __init__(self, max_at_kie: int) -> None:
        self.max_at_kie = max_at_kie
        self.entries: dict[str, _Entry] = {}
        self.last_round: dict[Hashable, int] = {}
        self.round = 0
        self.seq = 0

    def _at_kie(self) -> dict[Hashable, int]:
        counts: dict[Hashable, int] = {}
        for e in self.entries.values():
            if not e.waiting:
                counts[member_of(e.job)] = counts.get(member_of(e.job), 0) + 1
        return counts

    def put(self, job: Job) -> None:
        member = member_of(job)
        rnd = max(self.round, self.last_round.get(member, -1) + 1)
        self.last_round[member] = rnd
        self.seq += 1
        self.entries[job.id] = _Entry(job, (rnd, self.seq), True)

    def hold(self, job: Job) -> None:
        self.entries[job.id] = _Entry(job, None, False)

    def order(self) -> list[str]:
        waiting = [e for e in self.entries.values() if e.waiting]
        return [e.job.id for e in sorted(waiting, key=lambda e: e.tag)]  # type: ignore[arg-type, return-value]

    def take(self) -> str | None:
        at_kie = self._at_kie()
        sendable = [
            e
            for e in self.entries.values()
            if e.waiting and at_kie.get(member_of(e.job), 0) < self.max_at_kie
        ]
        if not sendable:
            return None
        best = min(sendable, key=lambda e: e.tag)  # type: ignore[arg-type, return-value]
        best.waiting = False
        assert best.tag is not None
        self.round = max(self.round, best.tag[0])
        return best.job.id

    def put_back(self, job_id: str) -> None:
        entry = self.entries[job_id]
        if entry.tag is None:
            self.seq += 1
            entry.tag = (self.round, self.seq)
        entry.waiting = True

    def remove(self, job_id: str) -> None:
        del self.entries[job_id]


@pytest.mark.parametrize("seed", range(8))
def test_order_places_and_takes_match_a_brute_force_reference(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.randint(1, 3)
    line, ref = Line(max_at_kie=limit), Reference(limit)
    users = rng.choice([3, 10, 40])
    made = 0
    for _ in range(1000):
        op = rng.random()
        waiting = [i for i, e in ref.entries.items() if e.waiting]
        at_kie = [i for i, e in ref.entries.items() if not e.waiting]
        if op < 0.38:
            made += 1
            job = make_job(rng.randrange(users), made)
            line.put(job)
            ref.put(job)
        elif op < 0.40:
            made += 1
            job = make_job(rng.randrange(users), made)
            line.hold(job)
            ref.hold(job)
        elif op < 0.70:
            taken = line.take_nowait()
            assert (taken.id if taken else None) == ref.take()
        elif op < 0.80 and waiting:
            job_id = rng.choice(waiting)
            assert line.remove(job_id) is True
            ref.remove(job_id)
        elif op < 0.93 and at_kie:
            job_id = rng.choice(at_kie)
            assert line.remove(job_id) is False
            ref.remove(job_id)
        elif at_kie:
            job_id = rng.choice(at_kie)
            assert line.put_back(job_id) is not None
            ref.put_back(job_id)
        order = ref.order()
        assert line.order() == order
        assert len(line) == len(order)
        assert line.at_kie == len(ref.entries) - len(order)
        for place, job_id in enumerate(order, start=1):
            assert line.place(job_id) == place
    # Drain what can go; the rest is held back only by members at their limit.
    while (taken := line.take_nowait()) is not None:
        assert taken.id == ref.take()
    assert ref.take() is None
