"""Per-job quota reservations in the database: reserve, settle, refund, and where limits stand.

Usage lives in buckets (scope, target, period, period start). A reservation adds N to each
applicable bucket with one conditional upsert per bucket (`… DO UPDATE SET used = used + N
WHERE used + N <= limit`), all in one transaction: the database's row lock, not a read in
Python, decides who gets the last image. Buckets are locked in one fixed order (member,
channel, server) so concurrent reservations can't deadlock. The buckets a job used are stored
with it, so settling and refunding reach the right period after a restart or a rollover.

Consequences worth knowing: usage counts only while a limit exists (setting a limit starts
from zero), and changing a limit's period starts a fresh bucket for the new period.

A job ends exactly once: `settle` (charge what was delivered) or `refund` (charge nothing).
Both are idempotent, and whichever comes first wins; a refund after settling does nothing,
because the member received those images.

Reserve, settle and refund run in a transaction of their own, or with `conn=` inside the
caller's (so a reservation and its job row commit together). There they work under a
savepoint: a refusal takes back only this call's writes, and the caller's transaction stays
usable. (A reservation no limit applies to is one INSERT, which needs none.) On SQLite, code
holding a transaction must pass it: the one connection is locked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from bot.control.errors import QuotaExceeded
from bot.control.periods import period_end
from bot.control.quotas import buckets
from bot.control.quotas.rules import SCOPES, Bucket, QuotaFigure, QuotaLimit, applicable
from bot.store.database import Connection, Database

__all__ = ["Ledger", "Reservation"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """Images a job holds: `images` reserved, `charged` still counted."""

    job_id: str
    guild_id: int
    channel_id: int
    user_id: int
    images: int
    charged: int
    state: Literal["reserved", "settled", "refunded"]
    buckets: tuple[Bucket, ...]


class Ledger:
    """Reservations against the quota limits: QuotaBook's money side."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def _atomic(self, conn: Connection | None) -> AsyncIterator[Connection]:
        """Yield a connection on which the block's writes stand or fall together."""
        if conn is None:
            async with self._db.transaction() as tx:
                yield tx
            return
        await conn.execute("SAVEPOINT quota")
        try:
            yield conn
        except Exception:
            # Cancellation is left to the caller's transaction, which then rolls back whole.
            await conn.execute("ROLLBACK TO SAVEPOINT quota")
            await conn.execute("RELEASE SAVEPOINT quota")
            raise
        await conn.execute("RELEASE SAVEPOINT quota")

    async def reserve(
        self,
        *,
        job_id: str,
        guild_id: int,
        channel_id: int,
        user_id: int,
        role_ids: Iterable[int],
        images: int,
        now: float,
        conn: Connection | None = None,
    ) -> Reservation:
        """Reserve `images` in every applicable limit at once, or raise QuotaExceeded."""
        if images < 1:
            raise ValueError("a reservation needs at least one image")
        if conn is None:
            async with self._db.transaction() as tx:
                return await self.reserve(
                    job_id=job_id,
                    guild_id=guild_id,
                    channel_id=channel_id,
                    user_id=user_id,
                    role_ids=role_ids,
                    images=images,
                    now=now,
                    conn=tx,
                )
        # A repeat (e.g. after a crash) returns the first reservation instead of charging twice.
        existing = await _load_reservation(conn, job_id)
        if existing is not None:
            return existing
        limits = await _limits(conn, guild_id, user_id, channel_id)
        found = applicable(limits, user_id=user_id, channel_id=channel_id, role_ids=role_ids)
        reservation = Reservation(
            job_id=job_id,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            images=images,
            charged=images,
            state="reserved",
            buckets=tuple(a.bucket(now) for a in found),
        )
        if not found:
            # No limit applies, so nothing can refuse: the one write left is a single INSERT,
            # all or nothing by itself, and needs no savepoint (admission reserves every job
            # inside its batch's transaction; this spares two statements a job there).
            await _store(conn, reservation, now)
            return reservation
        async with self._atomic(conn) as tx:
            for a, bucket in zip(found, reservation.buckets, strict=True):
                await _take(tx, guild_id, bucket, a.limit.limit, images, now)
            await _store(tx, reservation, now)
        return reservation

    # settle and refund return None to match the job engine's QuotaLedger protocol;
    # get_reservation shows the outcome.
    async def settle(self, job_id: str, delivered: int, *, conn: Connection | None = None) -> None:
        """Charge only the `delivered` images (0…reserved) and free the rest; once per job."""
        async with self._atomic(conn) as tx:
            await _finish(tx, job_id, "settled", delivered)

    async def refund(self, job_id: str, *, conn: Connection | None = None) -> None:
        """Free every image the job reserved, unless it was already settled or refunded."""
        async with self._atomic(conn) as tx:
            await _finish(tx, job_id, "refunded", 0)

    async def sweep(self) -> int:
        """Settle or refund each reservation whose job has ended or never got its row.

        The engine ends a job and its reservation in one transaction; this catches what a
        crash of an older version (or a bug) left behind, so no image stays reserved forever.
        """
        rows = await self._db.fetch(
            "SELECT r.job_id, j.state, j.images_delivered FROM quota_reservations r"
            " LEFT JOIN jobs j ON j.id = r.job_id"
            " WHERE r.state = 'reserved'"
            " AND (j.id IS NULL OR j.state IN ('delivered', 'failed', 'cancelled'))"
        )
        for row in rows:
            if row["state"] == "delivered":
                await self.settle(row["job_id"], int(row["images_delivered"] or 0))
            else:
                await self.refund(row["job_id"])
        return len(rows)

    async def get_reservation(
        self, job_id: str, *, conn: Connection | None = None
    ) -> Reservation | None:
        """Return the job's reservation, or None if it never reserved."""
        return await _load_reservation(conn or self._db, job_id)

    async def status(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        role_ids: Iterable[int],
        now: float,
    ) -> list[QuotaFigure]:
        """Return each limit that applies to the member here and how much of it is left."""
        limits = await _limits(self._db, guild_id, user_id, channel_id)
        return [
            found.figure(await buckets.used(self._db, guild_id, found.bucket(now)), now)
            for found in applicable(
                limits, user_id=user_id, channel_id=channel_id, role_ids=role_ids
            )
        ]


async def _limits(
    conn: Connection, guild_id: int, user_id: int, channel_id: int
) -> list[QuotaLimit]:
    """Return the guild's limits that could apply to this member in this channel."""
    rows = await conn.fetch(
        "SELECT * FROM quota_limits WHERE guild_id = $1 AND (scope IN ('default', 'server',"
        " 'role') OR (scope = 'member' AND target_id = $2)"
        " OR (scope = 'channel' AND target_id = $3))",
        guild_id,
        user_id,
        channel_id,
    )
    return [QuotaLimit.from_row(row) for row in rows]


async def _take(
    conn: Connection, guild_id: int, bucket: Bucket, limit: int, images: int, now: float
) -> None:
    """Add `images` to the bucket if they fit under `limit`, else raise QuotaExceeded."""
    if await buckets.add_within(conn, guild_id, bucket, images, limit):
        return
    raise QuotaExceeded(
        scope=bucket.scope,
        limit=limit,
        period=bucket.period,
        used=await buckets.used(conn, guild_id, bucket),
        requested=images,
        resets_at=period_end(bucket.period, now),
    )


async def _store(conn: Connection, reservation: Reservation, now: float) -> None:
    """Write the reservation and the buckets it added to."""
    await conn.execute(
        "INSERT INTO quota_reservations (job_id, guild_id, channel_id, user_id, images,"
        " charged, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        reservation.job_id,
        reservation.guild_id,
        reservation.channel_id,
        reservation.user_id,
        reservation.images,
        reservation.charged,
        reservation.state,
        now,
    )
    for bucket in reservation.buckets:
        await conn.execute(
            "INSERT INTO quota_reservation_buckets (job_id, scope, target_id, period,"
            " period_start) VALUES ($1, $2, $3, $4, $5)",
            reservation.job_id,
            bucket.scope,
            bucket.target_id,
            bucket.period,
            bucket.period_start,
        )


async def _finish(conn: Connection, job_id: str, state: str, charge: int) -> None:
    """End a reserved job as `state`, charging `charge` (0…reserved) and freeing the rest."""
    # Only a reservation still 'reserved' changes, so a repeat call finds nothing to do.
    row = await conn.fetchrow(
        "UPDATE quota_reservations"
        " SET state = $2, charged = CASE WHEN $3 < images THEN $3 ELSE images END"
        " WHERE job_id = $1 AND state = 'reserved' RETURNING images, charged",
        job_id,
        state,
        max(charge, 0),
    )
    if row is None:
        return
    freed = int(row["images"]) - int(row["charged"])
    if not freed:
        return
    reservation = await _load_reservation(conn, job_id)
    assert reservation is not None  # the UPDATE above just found it
    for bucket in reservation.buckets:
        await buckets.take_back(conn, reservation.guild_id, bucket, freed)


async def _load_reservation(conn: Connection, job_id: str) -> Reservation | None:
    """Return the job's reservation with its buckets in locking order, or None."""
    row = await conn.fetchrow("SELECT * FROM quota_reservations WHERE job_id = $1", job_id)
    if row is None:
        return None
    bucket_rows = await conn.fetch(
        "SELECT * FROM quota_reservation_buckets WHERE job_id = $1", job_id
    )
    ordered = sorted(
        (
            Bucket(r["scope"], int(r["target_id"]), r["period"], int(r["period_start"]))
            for r in bucket_rows
        ),
        key=lambda b: SCOPES.index(b.scope),
    )
    return Reservation(
        job_id=row["job_id"],
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        user_id=int(row["user_id"]),
        images=int(row["images"]),
        charged=int(row["charged"]),
        state=row["state"],
        buckets=tuple(ordered),
    )
