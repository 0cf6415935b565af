"""Quota rules: scopes, precedence, periods, reservations, settlement and admin ops."""

from __future__ import annotations

import itertools

import pytest

from bot.control.audit import recent
from bot.control.errors import InvalidSetting, QuotaExceeded
from bot.control.quotas import QuotaBook, QuotaFigure, QuotaLimit, most_generous
from bot.store.database import Database
from tests.control.helpers import ADMIN, GUILD, ts

CHANNEL = 2000
OTHER_CHANNEL = 2001
USER = 3000
OTHER_USER = 3001
ROLE_A = 4000
ROLE_B = 4001
NOW = ts("2025-03-12 12:00:00")  # a Wednesday
END_OF_DAY = ts("2025-03-13 00:00:00")

_job_ids = itertools.count()


async def reserve(
    book: QuotaBook,
    images: int = 1,
    *,
    user: int = USER,
    channel: int = CHANNEL,
    roles: tuple[int, ...] = (),
    now: float = NOW,
    job_id: str | None = None,
):
    """Reserve with test defaults and a fresh job id."""
    return await book.reserve(
        job_id=job_id or f"job-{next(_job_ids)}",
        guild_id=GUILD,
        channel_id=channel,
        user_id=user,
        role_ids=roles,
        images=images,
        now=now,
    )


async def set_limits(book: QuotaBook, limits: list[tuple[str, int | None, int, str]]) -> None:
    """Set (kind, target, limit, period) limits."""
    for kind, target, limit, period in limits:
        await book.set_limit(GUILD, kind, target, limit, period, actor_id=ADMIN, now=NOW)


def member_figure(figures: list[QuotaFigure]) -> QuotaFigure | None:
    """Return the member-scope figure, if any."""
    return next((f for f in figures if f.scope == "member"), None)


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


async def test_refused_request_reserves_nothing(book: QuotaBook) -> None:
    """All limits are reserved together: a refusal by one leaves the others untouched."""
    await set_limits(
        book,
        [
            ("default", None, 10, "day"),
            ("channel", CHANNEL, 10, "day"),
            ("server", None, 3, "day"),
        ],
    )
    await reserve(book, 2)
    with pytest.raises(QuotaExceeded) as info:
        await reserve(book, 2)
    assert info.value.scope == "server"
    used = {f.scope: f.used for f in await book.status(GUILD, CHANNEL, USER, (), NOW)}
    assert used == {"member": 2, "channel": 2, "server": 2}


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


async def test_settle_frees_undelivered_images(book: QuotaBook) -> None:
    """Settling to fewer images than reserved gives the difference back, once."""
    await set_limits(book, [("default", None, 6, "day"), ("server", None, 6, "day")])
    reservation = await reserve(book, 4, job_id="settle-me")
    assert reservation.charged == 4
    await book.settle("settle-me", 1)
    settled = await book.get_reservation("settle-me")
    assert settled is not None
    assert (settled.state, settled.charged) == ("settled", 1)
    assert {f.scope: f.used for f in await book.status(GUILD, CHANNEL, USER, (), NOW)} == {
        "member": 1,
        "server": 1,
    }
    # Idempotent: settling again, with any number, changes nothing; so does a late refund.
    await book.settle("settle-me", 0)
    again = await book.get_reservation("settle-me")
    assert again is not None
    assert (again.state, again.charged) == ("settled", 1)
    await book.refund("settle-me")
    figure = member_figure(await book.status(GUILD, CHANNEL, USER, (), NOW))
    assert figure is not None
    assert figure.used == 1


SETTLE_CASES = [
    # reserved, delivered, charged
    (3, 3, 3),
    (3, 0, 0),
    (3, 5, 3),  # never charge more than was reserved
    (3, -1, 0),  # never below zero
]


@pytest.mark.parametrize(("reserved", "delivered", "charged"), SETTLE_CASES)
async def test_settle_bounds(book: QuotaBook, reserved, delivered, charged) -> None:
    """The charge is the delivered count kept between 0 and what was reserved."""
    await set_limits(book, [("default", None, 6, "day")])
    await reserve(book, reserved, job_id="bounds")
    await book.settle("bounds", delivered)
    settled = await book.get_reservation("bounds")
    assert settled is not None
    assert settled.charged == charged
    figure = member_figure(await book.status(GUILD, CHANNEL, USER, (), NOW))
    assert figure is not None
    assert figure.used == charged


async def test_refund_frees_everything_once(book: QuotaBook) -> None:
    """A refund gives back every reserved image, and repeating it changes nothing."""
    await set_limits(book, [("default", None, 5, "day"), ("channel", CHANNEL, 5, "day")])
    await reserve(book, 3, job_id="other")
    await reserve(book, 2, job_id="refund-me")
    await book.refund("refund-me")
    refunded = await book.get_reservation("refund-me")
    assert refunded is not None
    assert (refunded.state, refunded.charged) == ("refunded", 0)
    await book.refund("refund-me")
    await book.settle("refund-me", 2)
    used = {f.scope: f.used for f in await book.status(GUILD, CHANNEL, USER, (), NOW)}
    assert used == {"member": 3, "channel": 3}


async def test_unknown_job_settles_to_none(book: QuotaBook) -> None:
    """Settling or refunding a job that never reserved does nothing."""
    await book.settle("nope", 1)
    await book.refund("nope")
    assert await book.get_reservation("nope") is None


async def test_reserving_twice_for_one_job_returns_the_first(book: QuotaBook) -> None:
    """A repeated reserve() for the same job (e.g. after a crash) doesn't charge twice."""
    await set_limits(book, [("default", None, 5, "day")])
    first = await reserve(book, 2, job_id="same")
    second = await reserve(book, 2, job_id="same")
    assert first == second
    figure = member_figure(await book.status(GUILD, CHANNEL, USER, (), NOW))
    assert figure is not None
    assert figure.used == 2


async def test_settlement_after_rollover_hits_its_own_period(book: QuotaBook) -> None:
    """A job reserved before midnight and refunded after frees yesterday's bucket, not today's."""
    await set_limits(book, [("default", None, 4, "day")])
    before, after = ts("2025-03-12 23:59:50"), ts("2025-03-13 00:00:10")
    await reserve(book, 4, job_id="late", now=before)
    await reserve(book, 3, job_id="today", now=after)
    await book.refund("late")
    figure = member_figure(await book.status(GUILD, CHANNEL, USER, (), after))
    assert figure is not None
    assert figure.used == 3  # today's own usage, untouched by the refund
    yesterday = member_figure(await book.status(GUILD, CHANNEL, USER, (), before))
    assert yesterday is not None
    assert yesterday.used == 0


async def test_reservations_survive_a_new_book(book: QuotaBook, db: Database) -> None:
    """A reservation is in the database, so a fresh QuotaBook (a restart) can settle it."""
    await set_limits(book, [("default", None, 5, "day")])
    await reserve(book, 3, job_id="restart")
    restarted = QuotaBook(db)
    reservation = await restarted.get_reservation("restart")
    assert reservation is not None
    assert [b.scope for b in reservation.buckets] == ["member"]
    await restarted.settle("restart", 1)
    figure = member_figure(await restarted.status(GUILD, CHANNEL, USER, (), NOW))
    assert figure is not None
    assert figure.used == 1


async def test_lowered_limit_refuses_until_usage_falls(book: QuotaBook) -> None:
    """Lowering a limit below current usage refuses new requests; remaining never goes negative."""
    await set_limits(book, [("default", None, 5, "day")])
    await reserve(book, 4)
    await set_limits(book, [("default", None, 2, "day")])
    with pytest.raises(QuotaExceeded):
        await reserve(book, 1)
    figure = member_figure(await book.status(GUILD, CHANNEL, USER, (), NOW))
    assert figure is not None
    assert (figure.used, figure.remaining) == (4, 0)


async def test_reset_member_zeroes_current_usage(book: QuotaBook, db: Database) -> None:
    """Resetting a member frees their current period and is audited with the old figures."""
    await set_limits(book, [("default", None, 2, "day")])
    await reserve(book, 2)
    await reserve(book, 2, user=OTHER_USER)
    change = await book.reset_member(GUILD, USER, actor_id=ADMIN, now=NOW)
    assert (change.old, change.new) == ({"day": 2}, {"day": 0})
    await reserve(book, 2)
    with pytest.raises(QuotaExceeded):
        await reserve(book, 1, user=OTHER_USER)
    [entry] = [e for e in await recent(db, GUILD) if e.action == "quota.reset_member"]
    assert (entry.target, entry.old, entry.new) == (f"member:{USER}", {"day": 2}, {"day": 0})


async def test_set_clear_show_and_audit(book: QuotaBook, db: Database) -> None:
    """Admin limit changes return and audit old → new; show lists what is set."""
    first = await book.set_limit(GUILD, "role", ROLE_A, 5, "day", actor_id=ADMIN, now=NOW)
    assert (first.old, first.new) == (None, {"limit": 5, "period": "day"})
    second = await book.set_limit(GUILD, "role", ROLE_A, 20, "week", actor_id=ADMIN, now=NOW + 1)
    assert (second.old, second.new) == (
        {"limit": 5, "period": "day"},
        {"limit": 20, "period": "week"},
    )
    await book.set_limit(GUILD, "server", None, 100, "month", actor_id=ADMIN, now=NOW + 2)
    await book.set_limit(GUILD, "default", None, 3, "day", actor_id=ADMIN, now=NOW + 3)
    assert await book.show(GUILD) == [
        QuotaLimit("default", None, 3, "day"),
        QuotaLimit("role", ROLE_A, 20, "week"),
        QuotaLimit("server", None, 100, "month"),
    ]
    cleared = await book.clear_limit(GUILD, "role", ROLE_A, actor_id=ADMIN, now=NOW + 4)
    assert (cleared.old, cleared.new) == ({"limit": 20, "period": "week"}, None)
    assert len(await book.show(GUILD)) == 2
    entries = await recent(db, GUILD)
    assert [(e.action, e.target) for e in entries] == [
        ("quota.clear", f"role:{ROLE_A}"),
        ("quota.set", "default"),
        ("quota.set", "server"),
        ("quota.set", f"role:{ROLE_A}"),
        ("quota.set", f"role:{ROLE_A}"),
    ]


BAD_LIMIT_CASES = [
    ("role", ROLE_A, -1, "day"),
    ("role", ROLE_A, 5, "year"),
    ("everyone", None, 5, "day"),
]


@pytest.mark.parametrize(("kind", "target", "limit", "period"), BAD_LIMIT_CASES)
async def test_bad_limits_refused(
    book: QuotaBook, db: Database, kind, target, limit, period
) -> None:
    """A negative limit, an unknown period or kind is refused and not audited."""
    with pytest.raises(InvalidSetting):
        await book.set_limit(GUILD, kind, target, limit, period, actor_id=ADMIN, now=NOW)
    assert await book.show(GUILD) == []
    assert await recent(db, GUILD) == []


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
