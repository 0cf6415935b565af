"""Usage counters in `quota_usage`: images counted per scope, target, period and period start.

Every statement on one bucket names it with BUCKET_WHERE and passes the bucket's key as
$1…$5, so the key is written once.
"""

from __future__ import annotations

from typing import Any

from bot.control.quotas.rules import Bucket
from bot.store.database import Connection

__all__ = ["BUCKET_WHERE", "add_within", "reset", "take_back", "used"]

_KEY = ("guild_id", "scope", "target_id", "period", "period_start")
_KEY_COLUMNS = ", ".join(_KEY)
BUCKET_WHERE = " AND ".join(f"{column} = ${n}" for n, column in enumerate(_KEY, 1))


def _key(guild_id: int, bucket: Bucket) -> tuple[Any, ...]:
    return (guild_id, bucket.scope, bucket.target_id, bucket.period, bucket.period_start)


async def _update(
    conn: Connection, guild_id: int, bucket: Bucket, assignment: str, *args: Any
) -> int:
    """Apply `SET assignment` (its own parameters from $6) to the bucket; return rows changed."""
    return await conn.execute(
        f"UPDATE quota_usage SET {assignment} WHERE {BUCKET_WHERE}", *_key(guild_id, bucket), *args
    )


async def used(conn: Connection, guild_id: int, bucket: Bucket) -> int:
    """Return the images counted in the bucket (0 if it has no row yet)."""
    value = await conn.fetchval(
        f"SELECT used FROM quota_usage WHERE {BUCKET_WHERE}", *_key(guild_id, bucket)
    )
    return int(value or 0)


async def add_within(
    conn: Connection, guild_id: int, bucket: Bucket, images: int, limit: int
) -> bool:
    """Add `images` to the bucket if its total stays within `limit`; return whether it did."""
    # A fresh bucket takes the INSERT path, which has no WHERE, so check the size first.
    if images > limit:
        return False
    row = await conn.fetchrow(
        f"INSERT INTO quota_usage ({_KEY_COLUMNS}, used) VALUES ($1, $2, $3, $4, $5, $6)"
        f" ON CONFLICT ({_KEY_COLUMNS})"
        " DO UPDATE SET used = quota_usage.used + excluded.used"
        " WHERE quota_usage.used + excluded.used <= $7 RETURNING used",
        *_key(guild_id, bucket),
        images,
        limit,
    )
    return row is not None


async def take_back(conn: Connection, guild_id: int, bucket: Bucket, images: int) -> None:
    """Take `images` off the bucket, never below zero (an admin may have reset it)."""
    await _update(
        conn, guild_id, bucket, "used = CASE WHEN used > $6 THEN used - $6 ELSE 0 END", images
    )


async def reset(conn: Connection, guild_id: int, bucket: Bucket) -> int | None:
    """Zero the bucket and return what it held, or None if it has no row."""
    # Lock first (a no-op UPDATE; SQLite has no SELECT … FOR UPDATE), so the figure returned
    # is the one being zeroed.
    if not await _update(conn, guild_id, bucket, "used = used"):
        return None
    held = await used(conn, guild_id, bucket)
    await _update(conn, guild_id, bucket, "used = 0")
    return held
