"""Migrations apply once, in order, in one transaction, on both backends."""

from __future__ import annotations

import time

import pytest

from bot.store import migrate
from bot.store.database import Database, split_statements
from bot.store.migrate import apply_migrations, available_migrations, current_version


async def test_fresh_database_gets_every_migration(empty_db: Database) -> None:
    """A new database is migrated to the newest version and records it."""
    applied = await apply_migrations(empty_db, now=time.time())
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    assert await current_version(empty_db) == len(available_migrations())
    # The jobs table exists and takes a row.
    await empty_db.execute(
        "INSERT INTO jobs (id, callback_token, guild_id, channel_id, user_id, state, prompt,"
        " image_size, resolution, images, created_at, updated_at)"
        " VALUES ('j1', 't1', 1, 2, 3, 'queued', 'p', 'square_hd', '1K', 1, 0, 0)"
    )
    assert await empty_db.fetchval("SELECT COUNT(*) FROM jobs") == 1


async def test_second_run_applies_nothing(db: Database) -> None:
    """Running migrations on an up-to-date database is a no-op."""
    before = await db.fetch("SELECT version, applied_at FROM schema_version ORDER BY version")
    assert await apply_migrations(db, now=time.time() + 100) == []
    after = await db.fetch("SELECT version, applied_at FROM schema_version ORDER BY version")
    assert before == after


async def test_failed_migration_rolls_back_whole(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken migration leaves the database exactly as it was: nothing half-applied."""
    good = available_migrations()
    broken = migrate.Migration(len(good) + 1, "broken", "CREATE TABLE extra (x INTEGER);\nNOT SQL;")
    monkeypatch.setattr(migrate, "available_migrations", lambda: [*good, broken])
    with pytest.raises(Exception, match=r"(?i)syntax"):
        await apply_migrations(empty_db, now=time.time())
    assert await current_version(empty_db) == 0
    with pytest.raises(Exception, match=r"(?i)jobs"):
        await empty_db.fetch("SELECT * FROM jobs")


async def test_newer_database_is_refused(db: Database) -> None:
    """A database migrated by a newer bot is not touched by an older one."""
    await db.execute(
        "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, 'future', 0)", 999
    )
    with pytest.raises(RuntimeError, match="newer"):
        await apply_migrations(db, now=time.time())


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    """An exception inside transaction() undoes its writes."""
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO bot_state (key, value) VALUES ($1, $2)", "k", "v")
            1 / 0  # noqa: B018
    assert await db.fetchval("SELECT COUNT(*) FROM bot_state") == 0


async def test_parameters_are_numbered_on_both_backends(db: Database) -> None:
    """$n parameters may repeat and come in any order on both backends."""
    await db.execute("INSERT INTO bot_state (key, value) VALUES ($2, $1)", "value-1", "key-1")
    row = await db.fetchrow(
        "SELECT key, value FROM bot_state WHERE key = $1 OR value = $1", "key-1"
    )
    assert row == {"key": "key-1", "value": "value-1"}
    assert await db.execute("UPDATE bot_state SET value = $1", "x") == 1


def test_split_statements_ignores_comments_and_blank_lines() -> None:
    """Migration files split into statements at line-ending semicolons."""
    script = "-- a comment\nCREATE TABLE a (x INTEGER);\n\nCREATE INDEX i\n  ON a (x);\n"
    assert split_statements(script) == ["CREATE TABLE a (x INTEGER)", "CREATE INDEX i\n  ON a (x)"]


async def test_v4_turns_float_credits_into_exact_thousandths(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credits stored as floats by V1 become whole thousandths, rounded, NULL kept NULL."""
    every = available_migrations()
    monkeypatch.setattr(migrate, "available_migrations", lambda: every[:3])
    await apply_migrations(empty_db, now=time.time())
    floats = [0.8, 5.5, 0.1 + 0.2, 30.0, 1000 * 0.1, 0.0004, None]
    for n, credits in enumerate(floats):
        await empty_db.execute(
            "INSERT INTO jobs (id, callback_token, guild_id, channel_id, user_id, state, prompt,"
            " image_size, resolution, images, created_at, updated_at, credits_consumed)"
            " VALUES ($1, $2, 1, 2, 3, 'delivered', 'p', 'square_hd', '1K', 1, 0, 0, $3)",
            f"j{n}",
            f"t{n}",
            credits,
        )
    monkeypatch.setattr(migrate, "available_migrations", lambda: every)
    applied = await apply_migrations(empty_db, now=time.time())
    assert [m.name for m in applied][:1] == ["exact_credits"]
    rows = await empty_db.fetch("SELECT id, credits_consumed_milli AS m FROM jobs ORDER BY id")
    assert [r["m"] for r in rows] == [800, 5500, 300, 30_000, 100_000, 0, None]
    assert all(r["m"] is None or type(r["m"]) is int for r in rows)
    columns = await empty_db.fetch("SELECT * FROM jobs")
    assert "credits_consumed" not in columns[0]
