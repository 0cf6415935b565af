"""Image quotas: limits per member, role, channel and server, reserved atomically per job.

Rules (SPEC "Quota rules"): a request for N images needs N free in every limit that applies:

- the member's limit: their member override, else the most generous of their roles' limits,
  else the server default;
- the channel total, and the server total.

No limit set means unlimited; a limit of 0 means not allowed. Each limit counts images per
calendar period in UTC (day; week from Monday; month).

Roles are compared by images per day, each period taken at its nominal length (a week is 7
days, a month 30.44): 50 a week (7.1/day) beats 5 a day. When the rates are equal the longer
period wins, because it lets a member spend the same images in a burst.

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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from bot.control import audit
from bot.control.audit import Change
from bot.control.errors import InvalidSetting, QuotaExceeded
from bot.control.periods import PERIODS, Period, nominal_days, period_end, period_start
from bot.store.database import Connection, Database

__all__ = [
    "Bucket",
    "LimitKind",
    "QuotaBook",
    "QuotaExceeded",
    "QuotaFigure",
    "QuotaLimit",
    "Reservation",
    "Scope",
    "most_generous",
]

LimitKind = Literal["default", "role", "member", "channel", "server"]
LIMIT_KINDS: tuple[LimitKind, ...] = get_args(LimitKind)
Scope = Literal["member", "channel", "server"]
# Also the order buckets are locked in.
SCOPES: tuple[Scope, ...] = get_args(Scope)

_TARGETED: frozenset[str] = frozenset({"role", "member", "channel"})
_MAX_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """One limit an admin set: `limit` images per `period`."""

    kind: LimitKind
    target_id: int | None  # the role, member or channel; None for default and server
    limit: int
    period: Period

    @property
    def per_day(self) -> float:
        """Return the limit as images per nominal day, to compare limits of other periods."""
        return self.limit / nominal_days(self.period)

    def to_dict(self) -> dict[str, Any]:
        """Return the limit's value for the audit trail."""
        return {"limit": self.limit, "period": self.period}


@dataclass(frozen=True, slots=True)
class QuotaFigure:
    """Where one applicable limit stands now, for /quota."""

    scope: Scope
    source: LimitKind  # for scope member: which limit applies (member, role or default)
    limit: int
    period: Period
    used: int
    remaining: int
    resets_at: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """The usage counter one reservation added to."""

    scope: Scope
    target_id: int
    period: Period
    period_start: int


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


@dataclass(frozen=True, slots=True)
class _Applicable:
    scope: Scope
    target_id: int
    limit: QuotaLimit


def most_generous(limits: Iterable[QuotaLimit]) -> QuotaLimit | None:
    """Return the limit allowing the most images per day (longer period on a tie), or None."""
    return max(limits, key=lambda q: (q.per_day, nominal_days(q.period)), default=None)


def _applicable(
    limits: Sequence[QuotaLimit], *, user_id: int, channel_id: int, role_ids: Iterable[int]
) -> list[_Applicable]:
    """Return the limits that apply to this request, in bucket-locking order."""

    def find(kind: str, target_id: int | None = None) -> QuotaLimit | None:
        return next((q for q in limits if q.kind == kind and q.target_id == target_id), None)

    roles = set(role_ids)
    member = (
        find("member", user_id)
        or most_generous(q for q in limits if q.kind == "role" and q.target_id in roles)
        or find("default")
    )
    found = [
        _Applicable("member", user_id, member) if member else None,
        _Applicable("channel", channel_id, q) if (q := find("channel", channel_id)) else None,
        _Applicable("server", 0, q) if (q := find("server")) else None,
    ]
    return [a for a in found if a is not None]


def _limit_from_row(row: dict[str, Any]) -> QuotaLimit:
    kind = row["scope"]
    return QuotaLimit(
        kind=kind,
        target_id=int(row["target_id"]) if kind in _TARGETED else None,
        limit=int(row["limit_images"]),
        period=row["period"],
    )


def _target_label(kind: str, target_id: int | None) -> str:
    return kind if target_id is None else f"{kind}:{target_id}"


async def _used(conn: Connection, guild_id: int, bucket: Bucket) -> int:
    value = await conn.fetchval(
        "SELECT used FROM quota_usage WHERE guild_id = $1 AND scope = $2 AND target_id = $3"
        " AND period = $4 AND period_start = $5",
        guild_id,
        bucket.scope,
        bucket.target_id,
        bucket.period,
        bucket.period_start,
    )
    return int(value or 0)


def _bucket(applicable: _Applicable, now: float) -> Bucket:
    period = applicable.limit.period
    return Bucket(applicable.scope, applicable.target_id, period, period_start(period, now))


class QuotaBook:
    """Quota limits, usage and per-job reservations in the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _limits(
        self, conn: Connection, guild_id: int, user_id: int, channel_id: int
    ) -> list[QuotaLimit]:
        rows = await conn.fetch(
            "SELECT * FROM quota_limits WHERE guild_id = $1 AND (scope IN ('default', 'server',"
            " 'role') OR (scope = 'member' AND target_id = $2)"
            " OR (scope = 'channel' AND target_id = $3))",
            guild_id,
            user_id,
            channel_id,
        )
        return [_limit_from_row(row) for row in rows]

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
    ) -> Reservation:
        """Reserve `images` in every applicable limit at once, or raise QuotaExceeded.

        Reserving again for the same job returns its existing reservation.
        """
        if images < 1:
            raise ValueError("a reservation needs at least one image")
        async with self._db.transaction() as tx:
            existing = await _load_reservation(tx, job_id)
            if existing is not None:
                return existing
            limits = await self._limits(tx, guild_id, user_id, channel_id)
            buckets = []
            for applicable in _applicable(
                limits, user_id=user_id, channel_id=channel_id, role_ids=role_ids
            ):
                bucket = _bucket(applicable, now)
                await _take(tx, guild_id, bucket, applicable, images, now)
                buckets.append(bucket)
            await tx.execute(
                "INSERT INTO quota_reservations (job_id, guild_id, channel_id, user_id, images,"
                " charged, state, created_at) VALUES ($1, $2, $3, $4, $5, $5, 'reserved', $6)",
                job_id,
                guild_id,
                channel_id,
                user_id,
                images,
                now,
            )
            for bucket in buckets:
                await tx.execute(
                    "INSERT INTO quota_reservation_buckets (job_id, scope, target_id, period,"
                    " period_start) VALUES ($1, $2, $3, $4, $5)",
                    job_id,
                    bucket.scope,
                    bucket.target_id,
                    bucket.period,
                    bucket.period_start,
                )
        return Reservation(
            job_id=job_id,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            images=images,
            charged=images,
            state="reserved",
            buckets=tuple(buckets),
        )

    # settle and refund return None to match the job engine's QuotaLedger protocol;
    # get_reservation shows the outcome.
    async def settle(self, job_id: str, delivered: int) -> None:
        """Charge only the `delivered` images (0…reserved) and free the rest; once per job."""
        await self._finish(job_id, "settled", delivered)

    async def refund(self, job_id: str) -> None:
        """Free every image the job reserved, unless it was already settled or refunded."""
        await self._finish(job_id, "refunded", 0)

    async def _finish(self, job_id: str, state: str, charge: int) -> None:
        async with self._db.transaction() as tx:
            # Only a reservation still 'reserved' changes, so a repeat call finds nothing to do.
            row = await tx.fetchrow(
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
            reservation = await _load_reservation(tx, job_id)
            assert reservation is not None  # the UPDATE above just found it
            for bucket in reservation.buckets:
                await _give_back(tx, reservation.guild_id, bucket, freed)

    async def get_reservation(self, job_id: str) -> Reservation | None:
        """Return the job's reservation, or None if it never reserved."""
        return await _load_reservation(self._db, job_id)

    async def status(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        role_ids: Iterable[int],
        now: float,
    ) -> list[QuotaFigure]:
        """Return each limit that applies to the member here and how much of it is left."""
        limits = await self._limits(self._db, guild_id, user_id, channel_id)
        figures = []
        for applicable in _applicable(
            limits, user_id=user_id, channel_id=channel_id, role_ids=role_ids
        ):
            limit = applicable.limit
            used = await _used(self._db, guild_id, _bucket(applicable, now))
            figures.append(
                QuotaFigure(
                    scope=applicable.scope,
                    source=limit.kind,
                    limit=limit.limit,
                    period=limit.period,
                    used=used,
                    remaining=max(limit.limit - used, 0),
                    resets_at=period_end(limit.period, now),
                )
            )
        return figures

    async def show(self, guild_id: int) -> list[QuotaLimit]:
        """Return every limit set in the guild, default and server first."""
        rows = await self._db.fetch("SELECT * FROM quota_limits WHERE guild_id = $1", guild_id)
        limits = [_limit_from_row(row) for row in rows]
        return sorted(limits, key=lambda q: (LIMIT_KINDS.index(q.kind), q.target_id or 0))

    async def set_limit(
        self,
        guild_id: int,
        kind: str,
        target_id: int | None,
        limit: int,
        period: str,
        *,
        actor_id: int,
        now: float,
    ) -> Change:
        """Set one limit (`limit` images per `period`) and audit old → new."""
        _check_target(kind, target_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= _MAX_LIMIT:
            raise InvalidSetting(f"The limit must be a whole number from 0 to {_MAX_LIMIT}.")
        if period not in PERIODS:
            raise InvalidSetting(f"The period must be one of {', '.join(PERIODS)}.")
        async with self._db.transaction() as tx:
            old = await _locked_limit(tx, guild_id, kind, target_id, now)
            await tx.execute(
                "INSERT INTO quota_limits (guild_id, scope, target_id, limit_images, period,"
                " updated_at) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (guild_id, scope, target_id) DO UPDATE"
                " SET limit_images = excluded.limit_images, period = excluded.period,"
                " updated_at = excluded.updated_at",
                guild_id,
                kind,
                target_id or 0,
                limit,
                period,
                now,
            )
            return await audit.record(
                tx,
                guild_id=guild_id,
                actor_id=actor_id,
                action="quota.set",
                target=_target_label(kind, target_id),
                old=old,
                new={"limit": limit, "period": period},
                now=now,
            )

    async def clear_limit(
        self, guild_id: int, kind: str, target_id: int | None, *, actor_id: int, now: float
    ) -> Change:
        """Remove one limit (that scope becomes unlimited or falls back) and audit it."""
        _check_target(kind, target_id)
        async with self._db.transaction() as tx:
            old = await _locked_limit(tx, guild_id, kind, target_id, now)
            await tx.execute(
                "DELETE FROM quota_limits WHERE guild_id = $1 AND scope = $2 AND target_id = $3",
                guild_id,
                kind,
                target_id or 0,
            )
            return await audit.record(
                tx,
                guild_id=guild_id,
                actor_id=actor_id,
                action="quota.clear",
                target=_target_label(kind, target_id),
                old=old,
                new=None,
                now=now,
            )

    async def reset_member(
        self, guild_id: int, user_id: int, *, actor_id: int, now: float
    ) -> Change:
        """Zero the member's usage in the current day, week and month, and audit it."""
        old: dict[str, int] = {}
        async with self._db.transaction() as tx:
            for period in PERIODS:
                bucket = Bucket("member", user_id, period, period_start(period, now))
                # Lock first, so the audited figure is the one being zeroed.
                changed = await tx.execute(
                    "UPDATE quota_usage SET used = used WHERE guild_id = $1 AND scope = $2"
                    " AND target_id = $3 AND period = $4 AND period_start = $5",
                    guild_id,
                    bucket.scope,
                    bucket.target_id,
                    bucket.period,
                    bucket.period_start,
                )
                if not changed:
                    continue
                old[period] = await _used(tx, guild_id, bucket)
                await tx.execute(
                    "UPDATE quota_usage SET used = 0 WHERE guild_id = $1 AND scope = $2"
                    " AND target_id = $3 AND period = $4 AND period_start = $5",
                    guild_id,
                    bucket.scope,
                    bucket.target_id,
                    bucket.period,
                    bucket.period_start,
                )
            return await audit.record(
                tx,
                guild_id=guild_id,
                actor_id=actor_id,
                action="quota.reset_member",
                target=f"member:{user_id}",
                old=old,
                new=dict.fromkeys(old, 0),
                now=now,
            )


def _check_target(kind: str, target_id: int | None) -> None:
    if kind not in LIMIT_KINDS:
        raise InvalidSetting(f"The kind of limit must be one of {', '.join(LIMIT_KINDS)}.")
    if (kind in _TARGETED) != (target_id is not None):
        raise ValueError(f"a {kind} limit {'needs' if kind in _TARGETED else 'takes no'} target")


async def _locked_limit(
    tx: Connection, guild_id: int, kind: str, target_id: int | None, now: float
) -> dict[str, Any] | None:
    """Lock the limit's row if it exists and return its value."""
    await tx.execute(
        "UPDATE quota_limits SET updated_at = $4 WHERE guild_id = $1 AND scope = $2"
        " AND target_id = $3",
        guild_id,
        kind,
        target_id or 0,
        now,
    )
    row = await tx.fetchrow(
        "SELECT * FROM quota_limits WHERE guild_id = $1 AND scope = $2 AND target_id = $3",
        guild_id,
        kind,
        target_id or 0,
    )
    return None if row is None else _limit_from_row(row).to_dict()


async def _take(
    tx: Connection,
    guild_id: int,
    bucket: Bucket,
    applicable: _Applicable,
    images: int,
    now: float,
) -> None:
    """Add `images` to the bucket if they fit under the limit, else raise QuotaExceeded."""
    limit = applicable.limit.limit
    # A fresh bucket takes the INSERT path, which has no WHERE, so check the size first.
    if images <= limit:
        row = await tx.fetchrow(
            "INSERT INTO quota_usage (guild_id, scope, target_id, period, period_start, used)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (guild_id, scope, target_id, period, period_start)"
            " DO UPDATE SET used = quota_usage.used + excluded.used"
            " WHERE quota_usage.used + excluded.used <= $7 RETURNING used",
            guild_id,
            bucket.scope,
            bucket.target_id,
            bucket.period,
            bucket.period_start,
            images,
            limit,
        )
        if row is not None:
            return
    raise QuotaExceeded(
        scope=bucket.scope,
        limit=limit,
        period=bucket.period,
        used=await _used(tx, guild_id, bucket),
        requested=images,
        resets_at=period_end(bucket.period, now),
    )


async def _give_back(tx: Connection, guild_id: int, bucket: Bucket, images: int) -> None:
    """Take `images` off the bucket, never below zero (an admin may have reset it)."""
    await tx.execute(
        "UPDATE quota_usage SET used = CASE WHEN used > $6 THEN used - $6 ELSE 0 END"
        " WHERE guild_id = $1 AND scope = $2 AND target_id = $3 AND period = $4"
        " AND period_start = $5",
        guild_id,
        bucket.scope,
        bucket.target_id,
        bucket.period,
        bucket.period_start,
        images,
    )


async def _load_reservation(conn: Connection, job_id: str) -> Reservation | None:
    row = await conn.fetchrow("SELECT * FROM quota_reservations WHERE job_id = $1", job_id)
    if row is None:
        return None
    bucket_rows = await conn.fetch(
        "SELECT * FROM quota_reservation_buckets WHERE job_id = $1", job_id
    )
    buckets = sorted(
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
        buckets=tuple(buckets),
    )
