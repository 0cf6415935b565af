"""Reserve, settle and refund inside a caller's transaction commit or roll back with it."""

from __future__ import annotations

import pytest

from bot.control.audit import recent, record
from bot.control.errors import QuotaExceeded
from bot.control.quotas import QuotaBook
from bot.store.database import Connection, Database
from tests.control.helpers import ADMIN, GUILD, NOW, reserve, set_limits, used_by_scope


class Abandon(Exception):
    """Raised to roll a test's transaction back."""


async def write_other_row(tx: Connection) -> None:
    """Write a row standing for the caller's own work (the job row, in the bot)."""
    await record(
        tx, guild_id=GUILD, actor_id=ADMIN, action="other", target="t", old=0, new=1, now=NOW
    )


async def test_rolled_back_reservation_leaves_nothing_reserved(
    book: QuotaBook, db: Database
) -> None:
    """A reservation made in a transaction that rolls back leaves no usage and no record."""
    await set_limits(book, [("default", None, 5, "day"), ("server", None, 5, "day")])
    with pytest.raises(Abandon):
        async with db.transaction() as tx:
            reservation = await reserve(book, 3, job_id="gone", conn=tx)
            assert await book.get_reservation("gone", conn=tx) == reservation
            raise Abandon
    assert await book.get_reservation("gone") is None
    assert await used_by_scope(book) == {"member": 0, "server": 0}
    await reserve(book, 5)  # the whole limit is still free


async def test_committed_reservation_lands_with_the_callers_rows(
    book: QuotaBook, db: Database
) -> None:
    """A reservation and the caller's own row commit together."""
    await set_limits(book, [("default", None, 5, "day")])
    async with db.transaction() as tx:
        await reserve(book, 2, job_id="kept", conn=tx)
        await write_other_row(tx)
    reservation = await book.get_reservation("kept")
    assert reservation is not None
    assert (reservation.state, reservation.charged) == ("reserved", 2)
    assert await used_by_scope(book) == {"member": 2}
    assert "other" in [e.action for e in await recent(db, GUILD)]


async def test_refusal_in_a_transaction_takes_back_only_its_own_writes(
    book: QuotaBook, db: Database
) -> None:
    """A refused reservation undoes the buckets it took; the caller may still commit its rows."""
    await set_limits(book, [("default", None, 10, "day"), ("server", None, 3, "day")])
    await reserve(book, 2)
    async with db.transaction() as tx:
        await write_other_row(tx)
        with pytest.raises(QuotaExceeded) as info:
            # The member bucket takes 2 before the server bucket refuses them.
            await reserve(book, 2, job_id="refused", conn=tx)
        assert info.value.scope == "server"
        await reserve(book, 1, job_id="fits", conn=tx)
    assert await used_by_scope(book) == {"member": 3, "server": 3}
    assert await book.get_reservation("refused") is None
    assert await book.get_reservation("fits") is not None
    assert "other" in [e.action for e in await recent(db, GUILD)]


@pytest.mark.parametrize(
    ("end", "state", "used"),
    [
        (lambda book, tx: book.settle("job", 1, conn=tx), "settled", 1),
        (lambda book, tx: book.refund("job", conn=tx), "refunded", 0),
    ],
    ids=["settle", "refund"],
)
async def test_ending_a_job_follows_the_callers_transaction(
    book: QuotaBook, db: Database, end, state, used
) -> None:
    """Settle and refund in a transaction undo on rollback and take effect on commit."""
    await set_limits(book, [("default", None, 5, "day")])
    await reserve(book, 4, job_id="job")
    with pytest.raises(Abandon):
        async with db.transaction() as tx:
            await end(book, tx)
            raise Abandon
    reservation = await book.get_reservation("job")
    assert reservation is not None
    assert (reservation.state, reservation.charged) == ("reserved", 4)
    assert await used_by_scope(book) == {"member": 4}
    async with db.transaction() as tx:
        await end(book, tx)
    ended = await book.get_reservation("job")
    assert ended is not None
    assert (ended.state, ended.charged) == (state, used)
    assert await used_by_scope(book) == {"member": used}


async def test_reserve_and_settle_in_one_transaction(book: QuotaBook, db: Database) -> None:
    """A job reserved and settled in one transaction ends charged what it delivered."""
    await set_limits(book, [("default", None, 5, "day")])
    async with db.transaction() as tx:
        await reserve(book, 3, job_id="quick", conn=tx)
        await book.settle("quick", 2, conn=tx)
        await book.refund("quick", conn=tx)  # too late: the settlement stands
    assert await used_by_scope(book) == {"member": 2}
