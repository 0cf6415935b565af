"""Numbered SQL migrations (`migrations/V<n>__<name>.sql`), applied in one transaction.

The applied version is kept in the database itself (`schema_version`), so every copy of the
bot that opens the same database agrees on it. On PostgreSQL an advisory lock makes two
processes migrating at once take turns; SQLite's `BEGIN IMMEDIATE` does the same.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from bot.store.database import Database, split_statements

__all__ = ["Migration", "apply_migrations", "available_migrations", "current_version"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^V(\d+)__([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every copy of the bot.
_PG_LOCK_KEY = 0x1A6E_B07


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """Return the packaged migrations in version order, refusing gaps and duplicates."""
    found = []
    for entry in resources.files("bot.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must be 1..n without gaps, found {versions}")
    return found


_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)"""


async def current_version(db: Database) -> int:
    """Return the highest applied migration version (0 for an empty database)."""
    async with db.transaction() as tx:
        await tx.execute(_CREATE_VERSION_TABLE)
        version = await tx.fetchval("SELECT MAX(version) FROM schema_version")
    return int(version or 0)


async def apply_migrations(db: Database, *, now: float) -> list[Migration]:
    """Apply every pending migration in one transaction; return those applied."""
    migrations = available_migrations()
    async with db.transaction() as tx:
        if tx.dialect == "postgresql":
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _PG_LOCK_KEY)
        await tx.execute(_CREATE_VERSION_TABLE)
        applied = int(await tx.fetchval("SELECT MAX(version) FROM schema_version") or 0)
        if applied > len(migrations):
            raise RuntimeError(
                f"the database is at schema version {applied}, newer than this bot "
                f"knows ({len(migrations)}); upgrade the bot"
            )
        pending = [m for m in migrations if m.version > applied]
        for migration in pending:
            for statement in split_statements(migration.sql):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                now,
            )
    for migration in pending:
        log.info("applied migration V%d %s", migration.version, migration.name)
    return pending
