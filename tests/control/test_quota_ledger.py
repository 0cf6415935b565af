"""Quota ledger: reservations all-or-nothing, settlement, refunds, restarts and rollovers."""

from __future__ import annotations

import pytest

from bot.control.errors import QuotaExceeded
from bot.control.quotas import QuotaBook
from bot.store.database import Database
from tests.control.helpers import (
    CHANNEL,
    GUILD,
    NOW,
    USER,
    member_figure,
    reserve,
    set_limits,
    ts,
)


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
