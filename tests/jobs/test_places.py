"""Which places to announce when: the front often, the rest when halved, within a budget.

Checked against a brute-force walk of the whole line after random operations; time is a
number passed in, never measured.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.jobs.line import Line
from bot.jobs.places import CREATE_RATE, Places, expected_start
from tests.jobs.test_line import make_job


def test_expected_start_follows_the_line_and_the_members_own_limit() -> None:
    assert expected_start(1, now=100.0) == pytest.approx(100.0 + 1 / CREATE_RATE)
    assert expected_start(40, now=0.0, rate=2.0) == 20.0
    # Two of the member's own at kie (limit 2): this one waits for one of them to finish.
    assert expected_start(1, now=0.0, own_at_kie=2, max_at_kie=2, kie_seconds=25.0) == 25.0
    # ...and with two more of theirs ahead, for two rounds of the member's jobs.
    assert (
        expected_start(3, now=0.0, own_ahead=2, own_at_kie=2, max_at_kie=2, kie_seconds=25.0)
        == 50.0
    )
    # A long line outweighs the member's own wait.
    assert expected_start(1000, now=0.0, own_at_kie=2, max_at_kie=2, rate=2.0) == 500.0


def test_progress_shows_place_expected_start_and_waiting_for_own_jobs() -> None:
    line = Line(max_at_kie=2)
    places = Places(line, rate=2.0, expected={"1K": 25.0})
    for n in range(3):
        line.put(make_job(1, n))
    line.put(make_job(2, 0))
    line.take_nowait()
    line.take_nowait()  # member 1 has u1-0 at kie; member 2 has u2-0
    progress = places.progress("u1-1", now=1000.0)
    assert progress is not None
    assert progress.queue_position == 1
    assert progress.starts_at == 1000.0 + 0.5
    assert not progress.behind_own
    line.take_nowait()  # u1-1 goes: member 1 is at the limit
    behind = places.progress("u1-2", now=1000.0)
    assert behind is not None and behind.behind_own
    assert behind.starts_at == 1000.0 + 25.0
    assert places.progress("u1-0", now=1000.0) is None  # not waiting


def test_the_budget_caps_announcements_per_second() -> None:
    line = Line(max_at_kie=2)
    places = Places(line, per_second=5.0, front=1000)
    for user in range(500):
        line.put(make_job(user, 0))  # never shown: each is due
    counts = [len(places.due(float(t))) for t in range(20)]
    assert max(counts) <= 10  # at most two seconds' worth in one call
    assert sum(counts) <= 5 * 20 + 5
    assert sum(counts) >= 5 * 19


def test_the_front_is_refreshed_at_least_every_front_every_seconds() -> None:
    line = Line(max_at_kie=2)
    places = Places(line, per_second=6.0, front=100, front_every=30.0)
    for user in range(400):
        job = make_job(user, 0)
        places.shown(job.id, line.put(job) or 0, 0.0)
    told: dict[str, tuple[int, float]] = {}
    for t in range(1, 121):
        for _ in range(2):  # kie takes two a second
            taken = line.take_nowait()
            assert taken is not None
            places.forget(taken.id)
            line.remove(taken.id)
        for job, progress in places.due(float(t)):
            assert progress.queue_position is not None
            told[job.id] = (progress.queue_position, float(t))
        for place, job in line.front(100):
            last = told.get(job.id)
            if last is not None and last[0] != place:
                assert t - last[1] <= 31.0, (job.id, place, last, t)


def test_a_job_far_back_is_told_once_its_place_has_halved() -> None:
    line = Line(max_at_kie=2)
    places = Places(line, per_second=10_000.0, front=10)
    jobs = [make_job(user, 0) for user in range(1000)]
    for job in jobs:
        places.shown(job.id, line.put(job) or 0, 0.0)
    last = jobs[-1]
    for _ in range(499):
        taken = line.take_nowait()
        assert taken is not None
        line.remove(taken.id)
    # Place 501 of a told 1000: not halved yet.
    assert last.id not in {job.id for job, _ in places.due(1.0)}
    taken = line.take_nowait()
    assert taken is not None
    announced = {job.id: p for job, p in places.due(2.0)}
    assert announced[last.id].queue_position == 500


@pytest.mark.parametrize("seed", range(6))
def test_no_halved_place_is_missed_against_a_walk_of_the_whole_line(seed: int) -> None:
    """With budget to spare, after each due() no job beyond the front shows a place more
    than twice its real one, whatever joins, leaves, cancels and put-backs happened."""
    rng = random.Random(seed)
    line = Line(max_at_kie=rng.randint(1, 3))
    front = rng.choice([5, 20])
    places = Places(line, per_second=10_000.0, front=front, front_every=5.0)
    told: dict[str, int] = {}
    made = 0
    for t in range(400):
        for _ in range(rng.randint(0, 12)):
            op = rng.random()
            if op < 0.45:
                made += 1
                job = make_job(rng.randrange(60), made)
                place = line.put(job)
                assert place is not None
                places.shown(job.id, place, float(t))
                told[job.id] = place
            elif op < 0.85:
                taken = line.take_nowait()
                if taken is not None:
                    places.forget(taken.id)
                    told.pop(taken.id, None)
                    if rng.random() < 0.15:
                        line.put_back(taken.id)
                        places.unseen(taken.id)
                    else:
                        line.remove(taken.id)  # it left kie
            elif line.order():
                job_id = rng.choice(line.order())
                line.remove(job_id)
                places.forget(job_id)
                told.pop(job_id, None)
        for job, progress in places.due(float(t)):
            assert progress.queue_position == line.place(job.id)
            told[job.id] = progress.queue_position
        for place, job_id in enumerate(line.order(), start=1):
            shown = told.get(job_id)
            assert shown is not None, job_id
            if place > front:
                assert place > shown // 2, (job_id, place, shown)
    assert len(places) <= len(line)


async def test_run_shows_what_is_due_until_cancelled() -> None:
    line = Line(max_at_kie=2)
    places = Places(line, per_second=100.0)
    for user in range(3):
        line.put(make_job(user, 0))  # never shown: due at once
    shown: list[tuple[str, int | None]] = []
    all_shown = asyncio.Event()

    async def show(job: object, progress: object) -> None:
        shown.append((job.id, progress.queue_position))  # type: ignore[attr-defined]
        if len(shown) == 3:
            all_shown.set()

    task = asyncio.create_task(places.run(show, clock=lambda: 1000.0, every=0.001))
    await asyncio.wait_for(all_shown.wait(), 5)
    task.cancel()
    assert sorted(shown) == [("u0-0", 1), ("u1-0", 2), ("u2-0", 3)]
