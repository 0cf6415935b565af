"""Admin writes to quota limits and usage, each committed together with its audit row."""

from __future__ import annotations

from typing import Any

from bot.control import audit
from bot.control.audit import Change
from bot.control.errors import InvalidSetting
from bot.control.periods import PERIODS, period_start
from bot.control.quotas import buckets
from bot.control.quotas.rules import LIMIT_KINDS, MAX_LIMIT, TARGETED, Bucket, QuotaLimit
from bot.i18n import _
from bot.store.database import Database

__all__ = ["LimitAdmin"]

# One limit's row; default and server limits are stored with target_id 0.
_LIMIT_WHERE = "guild_id = $1 AND scope = $2 AND target_id = $3"


class LimitAdmin:
    """Show, set and clear quota limits and reset a member's usage: QuotaBook's admin side."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def show(self, guild_id: int) -> list[QuotaLimit]:
        """Return every limit set in the guild, default and server first."""
        rows = await self._db.fetch("SELECT * FROM quota_limits WHERE guild_id = $1", guild_id)
        limits = [QuotaLimit.from_row(row) for row in rows]
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
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
            raise InvalidSetting(
                _("The limit must be a whole number from 0 to {most}.", most=MAX_LIMIT)
            )
        if period not in PERIODS:
            raise InvalidSetting(
                _("The period must be one of {periods}.", periods=", ".join(PERIODS))
            )
        new = {"limit": limit, "period": period}
        return await self._replace(guild_id, kind, target_id, new, actor_id=actor_id, now=now)

    async def clear_limit(
        self, guild_id: int, kind: str, target_id: int | None, *, actor_id: int, now: float
    ) -> Change:
        """Remove one limit (that scope becomes unlimited or falls back) and audit it."""
        _check_target(kind, target_id)
        return await self._replace(guild_id, kind, target_id, None, actor_id=actor_id, now=now)

    async def reset_member(
        self, guild_id: int, user_id: int, *, actor_id: int, now: float
    ) -> Change:
        """Zero the member's usage in the current day, week and month, and audit it."""
        old: dict[str, int] = {}
        async with self._db.transaction() as tx:
            for period in PERIODS:
                bucket = Bucket("member", user_id, period, period_start(period, now))
                held = await buckets.reset(tx, guild_id, bucket)
                if held is not None:
                    old[period] = held
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

    async def _replace(
        self,
        guild_id: int,
        kind: str,
        target_id: int | None,
        new: dict[str, Any] | None,
        *,
        actor_id: int,
        now: float,
    ) -> Change:
        """Store `new` as the limit's value (None removes the limit) and audit old → new."""
        key = (guild_id, kind, target_id or 0)
        async with self._db.transaction() as tx:
            # Lock the row first (PostgreSQL; SQLite's IMMEDIATE transaction already holds the
            # write lock), so the audited old value is the one replaced.
            await tx.execute(
                f"UPDATE quota_limits SET updated_at = $4 WHERE {_LIMIT_WHERE}", *key, now
            )
            row = await tx.fetchrow(f"SELECT * FROM quota_limits WHERE {_LIMIT_WHERE}", *key)
            old = None if row is None else QuotaLimit.from_row(row).to_dict()
            if new is None:
                await tx.execute(f"DELETE FROM quota_limits WHERE {_LIMIT_WHERE}", *key)
            else:
                await tx.execute(
                    "INSERT INTO quota_limits (guild_id, scope, target_id, limit_images, period,"
                    " updated_at) VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (guild_id, scope, target_id) DO UPDATE"
                    " SET limit_images = excluded.limit_images, period = excluded.period,"
                    " updated_at = excluded.updated_at",
                    *key,
                    new["limit"],
                    new["period"],
                    now,
                )
            return await audit.record(
                tx,
                guild_id=guild_id,
                actor_id=actor_id,
                action="quota.clear" if new is None else "quota.set",
                target=kind if target_id is None else f"{kind}:{target_id}",
                old=old,
                new=new,
                now=now,
            )


def _check_target(kind: str, target_id: int | None) -> None:
    """Refuse an unknown kind, and a target where the kind takes none or none where it needs one."""
    if kind not in LIMIT_KINDS:
        raise InvalidSetting(
            _("The kind of limit must be one of {kinds}.", kinds=", ".join(LIMIT_KINDS))
        )
    if (kind in TARGETED) != (target_id is not None):
        raise ValueError(f"a {kind} limit {'needs' if kind in TARGETED else 'takes no'} target")
