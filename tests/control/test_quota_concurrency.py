"""Concurrent reservations never exceed a limit, on either backend."""

from __future__ import annotations

import asyncio

import pytest

from bot.control.errors import QuotaExceeded
from bot.control.quotas import QuotaBook
from bot.store.database import Connection, Database
from tests.control.helpers import ADMIN, CHANNEL, GUILD, NOW

CASES = [
    # limits, members making the 100 requests, binding scope
    ([("member", 3000, 10, "day")], 1, "member"),
    ([("default", None, 10, "day")], 1, "member"),
    ([("server", None, 10, "day"), ("default", None, 50, "day")], 100, "server"),
    ([("channel", CHANNEL, 10, "week"), ("server", None, 80, "day")], 20, "channel"),
]


@pytest.mark.parametrize("in_callers_tx", [False, True], ids=["own-tx", "callers-tx"])
@pytest.mark.parametrize(("limits", "members", "scope"), CASES)
async def test_hundred_concurrent_reservations(
    book: QuotaBook, db: Database, limits, members, scope, in_callers_tx
) -> None:
    """100 simultaneous 1-image requests at a limit of 10: exactly 10 win, 90 are refused."""
    for kind, target, limit, period in limits:
        await book.set_limit(GUILD, kind, target, limit, period, actor_id=ADMIN, now=NOW)

    async def reserve(i: int, conn: Connection | None) -> object:
        return await book.reserve(
            job_id=f"job-{i}",
            guild_id=GUILD,
            channel_id=CHANNEL,
            user_id=3000 + i % members,
            role_ids=(),
            images=1,
            now=NOW,
            conn=conn,
        )

    async def one(i: int) -> object:
        try:
            if not in_callers_tx:
                return await reserve(i, None)
            async with db.transaction() as tx:
                return await reserve(i, tx)
        except QuotaExceeded as exc:
            return exc

    results = await asyncio.gather(*(one(i) for i in range(100)))
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(results) - len(refused) == 10
    assert len(refused) == 90
    assert {r.scope for r in refused} == {scope}
    figures = await book.status(GUILD, CHANNEL, 3000, (), NOW)
    used = {f.scope: f.used for f in figures if f.scope == scope}
    assert used == {scope: 10}


async def test_concurrent_settle_and_refund_free_once(book: QuotaBook) -> None:
    """Racing settle and refund calls for one job end it exactly once."""
    await book.set_limit(GUILD, "default", None, 6, "day", actor_id=ADMIN, now=NOW)
    await book.reserve(
        job_id="race",
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=3000,
        role_ids=(),
        images=6,
        now=NOW,
    )
    calls = [book.settle("race", 2) for _ in range(10)] + [book.refund("race") for _ in range(10)]
    await asyncio.gather(*calls)
    reservation = await book.get_reservation("race")
    assert reservation is not None
    [figure] = await book.status(GUILD, CHANNEL, 3000, (), NOW)
    assert figure.used == reservation.charged
    assert reservation.charged in (0, 2)
