"""A migrated PostgreSQL schema of the test's own, opened as several processes would."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from tests.conftest import POSTGRES_URL, _drop_schema, _postgres_schema

OpenDb = Callable[[], Awaitable[Database]]


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A migrated schema, dropped afterwards."""
    schema = await _postgres_schema()
    db = await open_database(POSTGRES_URL, server_settings={"search_path": schema})
    try:
        await apply_migrations(db, now=time.time())
    finally:
        await db.close()
    try:
        yield schema
    finally:
        await _drop_schema(schema)


@pytest.fixture
async def open_pg(pg_schema: str) -> AsyncIterator[OpenDb]:
    """Return `await open_pg()`: a new pool on the schema, as another process would open."""
    opened: list[Database] = []

    async def open_one() -> Database:
        db = await open_database(POSTGRES_URL, server_settings={"search_path": pg_schema})
        opened.append(db)
        return db

    yield open_one
    for db in opened:
        await db.close()
