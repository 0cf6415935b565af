"""The audit trail: one row per admin change (who, what, when, old → new).

Writers pass the transaction that makes the change, so the change and its audit row commit or
roll back together.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from bot.store.database import Connection

__all__ = ["AuditEntry", "Change", "recent", "record"]


@dataclass(frozen=True, slots=True)
class Change:
    """What an admin write did, for the reply to the admin."""

    action: str
    target: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row, with old and new decoded from JSON."""

    id: str
    guild_id: int
    actor_id: int
    action: str
    target: str
    old: Any
    new: Any
    created_at: float


def _new_id(now: float) -> str:
    # Time first so ids sort like created_at; the random tail keeps them unique.
    return f"{int(now * 1_000_000):016x}{uuid.uuid4().hex[:16]}"


async def record(
    conn: Connection,
    *,
    guild_id: int,
    actor_id: int,
    action: str,
    target: str,
    old: Any,
    new: Any,
    now: float,
) -> Change:
    """Write one audit row on `conn` and return the change it describes."""
    await conn.execute(
        "INSERT INTO audit_log (id, guild_id, actor_id, action, target, old_value, new_value,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        _new_id(now),
        guild_id,
        actor_id,
        action,
        target,
        json.dumps(old, sort_keys=True),
        json.dumps(new, sort_keys=True),
        now,
    )
    return Change(action=action, target=target, old=old, new=new)


async def recent(conn: Connection, guild_id: int, limit: int = 20) -> list[AuditEntry]:
    """Return the guild's newest audit rows, newest first."""
    rows = await conn.fetch(
        "SELECT * FROM audit_log WHERE guild_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        guild_id,
        limit,
    )
    return [
        AuditEntry(
            id=row["id"],
            guild_id=int(row["guild_id"]),
            actor_id=int(row["actor_id"]),
            action=row["action"],
            target=row["target"],
            old=json.loads(row["old_value"]),
            new=json.loads(row["new_value"]),
            created_at=float(row["created_at"]),
        )
        for row in rows
    ]
