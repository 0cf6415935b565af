"""The adaptive poll plan: dense where completion is likely, sparse elsewhere."""

from __future__ import annotations

import pytest

from bot.jobs.polling import GIVE_UP_AFTER, PollPlan


def checks_until(plan: PollPlan, finish: float) -> tuple[int, float]:
    """Return (number of polls, delay after `finish`) until a poll sees the finished task."""
    t, polls = 0.0, 0
    while True:
        t = plan.next_check(t)
        polls += 1
        if t >= finish:
            return polls, t - finish
        assert polls < 200


def test_history_of_25s_jobs_costs_few_polls_and_notices_quickly() -> None:
    """With recent jobs around 25 s, a 25 s job costs ≤ 6 polls and is noticed within ~1 s."""
    history = [24.2, 24.8, 25.1, 25.5, 24.9, 25.3, 26.0, 24.5]
    plan = PollPlan.from_history(history, resolution="1K", images=1)
    for finish in (24.0, 24.6, 25.0, 25.4, 26.1):
        polls, delay = checks_until(plan, finish)
        assert polls <= 6, (finish, polls)
        assert delay <= 1.5, (finish, delay)


def test_without_history_still_finds_a_slow_job() -> None:
    """With no history the plan still reaches a 5-minute job with bounded polls."""
    plan = PollPlan.from_history([], resolution="1K", images=1)
    polls, delay = checks_until(plan, 300.0)
    assert polls < 40
    assert delay <= 30.0


def test_backoff_grows_after_the_window() -> None:
    """After the likely window, the interval grows but stays ≤ 30 s."""
    plan = PollPlan.from_history([20, 21, 22], resolution="1K", images=1)
    gaps = []
    t = plan.window_end
    for _ in range(30):
        nxt = plan.next_check(t)
        gaps.append(nxt - t)
        t = nxt
    assert gaps == sorted(gaps)
    assert max(gaps) <= 30.0


def test_callbacks_make_polling_a_sparse_safety_net() -> None:
    """With callbacks on, polls are at least 20 s apart."""
    plan = PollPlan.from_history([25] * 5, resolution="1K", images=1, callbacks=True)
    t = 0.0
    for _ in range(5):
        nxt = plan.next_check(t)
        assert nxt - t >= 20.0
        t = nxt


@pytest.mark.parametrize("bad", [-1.0, 0.0, GIVE_UP_AFTER + 1])
def test_nonsense_durations_are_ignored(bad: float) -> None:
    """Zero, negative and over-the-limit durations don't distort the plan."""
    clean = PollPlan.from_history([25.0] * 5, resolution="1K", images=1)
    dirty = PollPlan.from_history([25.0] * 5 + [bad], resolution="1K", images=1)
    assert clean == dirty
