"""Quota rules: which limits apply, precedence, scopes, periods and refusal messages."""

from __future__ import annotations

import pytest

from bot.control.errors import QuotaExceeded
from bot.control.quotas import QuotaBook, QuotaLimit, most_generous
from tests.control.helpers import (
    CHANNEL,
    END_OF_DAY,
    GUILD,
    NOW,
    OTHER_CHANNEL,
    OTHER_USER,
    ROLE_A,
    ROLE_B,
    USER,
    member_figure,
    reserve,
    set_limits,
    ts,
)

PRECEDENCE_CASES = [
    # limits set, member's roles, expected member limit (source, limit, period) or None
    ([], (), None),
    ([("default", None, 5, "day")], (), ("default", 5, "day")),
    ([("default", None, 5, "day"), ("role", ROLE_A, 2, "day")], (ROLE_A,), ("role", 2, "day")),
    ([("default", None, 5, "day"), ("role", ROLE_A, 2, "day")], (ROLE_B,), ("default", 5, "day")),
    (
        [("role", ROLE_A, 2, "day"), ("role", ROLE_B, 8, "day")],
        (ROLE_A, ROLE_B),
        ("role", 8, "day"),
    ),
    (  # 50 a week (7.1/day) is more generous than 5 a day
        [("role", ROLE_A, 5, "day"), ("role", ROLE_B, 50, "week")],
        (ROLE_A, ROLE_B),
        ("role", 50, "week"),
    ),
    (  # 100 a month (3.3/day) is less generous than 5 a day
        [("role", ROLE_A, 5, "day"), ("role", ROLE_B, 100, "month")],
        (ROLE_A, ROLE_B),
        ("role", 5, "day"),
    ),
    (
        [("role", ROLE_A, 20, "day"), ("member", USER, 1, "week")],
        (ROLE_A,),
        ("member", 1, "week"),
    ),
    ([("member", OTHER_USER, 1, "day"), ("default", None, 3, "day")], (), ("default", 3, "day")),
    ([("member", USER, 0, "day"), ("default", None, 3, "day")], (), ("member", 0, "day")),
]


@pytest.mark.parametrize(("limits", "roles", "expected"), PRECEDENCE_CASES)
async def test_member_limit_precedence(book: QuotaBook, limits, roles, expected) -> None:
    """Member override, else the most generous role, else the default, else unlimited."""
    await set_limits(book, limits)
    figure = member_figure(await book.status(GUILD, CHANNEL, USER, roles, NOW))
    got = None if figure is None else (figure.source, figure.limit, figure.period)
    assert got == expected


GENEROUS_CASES = [
    ([], None),
    ([QuotaLimit("role", 1, 7, "week"), QuotaLimit("role", 2, 1, "day")], 1),  # tie: longer wins
    ([QuotaLimit("role", 1, 0, "month"), QuotaLimit("role", 2, 1, "month")], 2),
    ([QuotaLimit("role", 1, 31, "month"), QuotaLimit("role", 2, 1, "day")], 1),
    ([QuotaLimit("role", 1, 30, "month"), QuotaLimit("role", 2, 1, "day")], 2),
]


@pytest.mark.parametrize(("limits", "winner"), GENEROUS_CASES)
def test_most_generous_compares_images_per_day(limits, winner) -> None:
    """Roles are compared by images per nominal day; ties go to the longer period."""
    best = most_generous(limits)
    assert (best.target_id if best else None) == winner


async def test_no_limit_is_unlimited(book: QuotaBook) -> None:
    """With no limits set, any number of reservations succeed and /quota shows nothing."""
    for _ in range(20):
        await reserve(book, 6)
    assert await book.status(GUILD, CHANNEL, USER, (), NOW) == []


async def test_zero_means_not_allowed(book: QuotaBook) -> None:
    """A limit of 0 refuses every request and says generation isn't allowed."""
    await set_limits(book, [("default", None, 0, "day")])
    with pytest.raises(QuotaExceeded) as info:
        await reserve(book)
    assert info.value.scope == "member"
    assert info.value.limit == 0
    assert info.value.message == "Image generation isn't allowed for you here (limit: 0 images)."


SCOPE_CASES = [
    # limit set, the scope that binds
    (("member", USER, 3, "day"), "member"),
    (("default", None, 3, "day"), "member"),
    (("role", ROLE_A, 3, "day"), "member"),
    (("channel", CHANNEL, 3, "day"), "channel"),
    (("server", None, 3, "day"), "server"),
]


@pytest.mark.parametrize(("limit", "scope"), SCOPE_CASES)
async def test_each_scope_refuses_when_full(book: QuotaBook, limit, scope) -> None:
    """Each kind of limit stops the request that would exceed it, naming scope and reset."""
    await set_limits(book, [limit])
    await reserve(book, 2, roles=(ROLE_A,))
    with pytest.raises(QuotaExceeded) as info:
        await reserve(book, 2, roles=(ROLE_A,))
    error = info.value
    assert (error.scope, error.limit, error.period, error.used) == (scope, 3, "day", 2)
    assert error.resets_at == END_OF_DAY
    assert f"<t:{int(END_OF_DAY)}:R>" in error.message
    assert "only 1 left" in error.message
    await reserve(book, 1, roles=(ROLE_A,))
    with pytest.raises(QuotaExceeded, match="is used up"):
        await reserve(book, 1, roles=(ROLE_A,))


MESSAGE_CASES = [
    ("member", "Your limit of 3 images per day is used up; it resets <t:"),
    ("channel", "This channel's limit of 3 images per day is used up; it resets <t:"),
    ("server", "This server's limit of 3 images per day is used up; it resets <t:"),
]


@pytest.mark.parametrize(("scope", "start"), MESSAGE_CASES)
def test_refusal_messages(scope, start) -> None:
    """The refusal names whose limit it is and when it resets, as a Discord timestamp."""
    error = QuotaExceeded(
        scope=scope, limit=3, period="day", used=3, requested=1, resets_at=1_741_824_000
    )
    assert error.message.startswith(start)
    assert error.message.endswith("<t:1741824000:R>.")
    assert error.remaining == 0


def test_refusal_counts_are_grammatical() -> None:
    """One image is "1 image", not "1 images"."""
    used_up = QuotaExceeded(
        scope="member", limit=1, period="day", used=1, requested=1, resets_at=1_741_824_000
    )
    assert used_up.message.startswith("Your limit of 1 image per day is used up")
    partial = QuotaExceeded(
        scope="member", limit=3, period="day", used=2, requested=2, resets_at=1_741_824_000
    )
    assert partial.message.startswith("You asked for 2 images, but your limit of 3 per day")


async def test_channel_total_is_shared(book: QuotaBook) -> None:
    """The channel limit counts every member in that channel, not other channels."""
    await set_limits(book, [("channel", CHANNEL, 3, "day")])
    await reserve(book, 2, user=USER)
    with pytest.raises(QuotaExceeded) as info:
        await reserve(book, 2, user=OTHER_USER)
    assert info.value.scope == "channel"
    await reserve(book, 5, user=OTHER_USER, channel=OTHER_CHANNEL)


async def test_server_total_is_shared(book: QuotaBook) -> None:
    """The server limit counts every member in every channel."""
    await set_limits(book, [("server", None, 4, "week")])
    await reserve(book, 2, user=USER, channel=CHANNEL)
    await reserve(book, 2, user=OTHER_USER, channel=OTHER_CHANNEL)
    with pytest.raises(QuotaExceeded) as info:
        await reserve(book, 1, user=OTHER_USER + 1, channel=OTHER_CHANNEL + 1)
    assert (info.value.scope, info.value.period) == ("server", "week")
    assert info.value.resets_at == ts("2025-03-17 00:00:00")


ROLLOVER_CASES = [
    ("day", "2025-03-12 23:59:59", "2025-03-13 00:00:00"),
    ("week", "2025-03-16 23:59:59", "2025-03-17 00:00:00"),  # Sunday → Monday
    ("month", "2025-01-31 23:59:59", "2025-02-01 00:00:00"),
]


@pytest.mark.parametrize(("period", "before", "after"), ROLLOVER_CASES)
async def test_period_rollover(book: QuotaBook, period, before, after) -> None:
    """A limit used up at the last second of a period is free again at the next one."""
    await set_limits(book, [("default", None, 2, period)])
    await reserve(book, 2, now=ts(before))
    with pytest.raises(QuotaExceeded) as info:
        await reserve(book, 1, now=ts(before))
    assert info.value.resets_at == ts(after)
    await reserve(book, 2, now=ts(after))
    [figure] = await book.status(GUILD, CHANNEL, USER, (), ts(after))
    assert (figure.used, figure.remaining, figure.resets_at) == (2, 0, period_end_after(period))


def period_end_after(period: str) -> float:
    """Return when the period after the rollover case ends."""
    return {
        "day": ts("2025-03-14 00:00:00"),
        "week": ts("2025-03-24 00:00:00"),
        "month": ts("2025-03-01 00:00:00"),
    }[period]


async def test_limits_are_per_guild(book: QuotaBook) -> None:
    """One guild's limits and usage don't touch another's."""
    await set_limits(book, [("server", None, 1, "day")])
    await reserve(book, 1)
    await book.reserve(
        job_id="elsewhere",
        guild_id=GUILD + 1,
        channel_id=CHANNEL,
        user_id=USER,
        role_ids=(),
        images=6,
        now=NOW,
    )
