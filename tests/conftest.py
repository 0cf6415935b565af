"""Shared fixtures: a migrated database on each backend."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations

# CI and the README point this at the PostgreSQL every machine here runs.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _postgres_schema() -> str:
    """Create an empty schema of our own so tests never see each other's tables."""
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    schema = f"t_{secrets.token_hex(6)}"
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    return schema


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        db = await open_database(f"sqlite:///{tmp_path}/test.db")
        try:
            yield db
        finally:
            await db.close()
        return
    schema = await _postgres_schema()
    db = await open_database(POSTGRES_URL, server_settings={"search_path": schema})
    try:
        yield db
    finally:
        await db.close()
        await _drop_schema(schema)


@pytest.fixture
async def db(empty_db: Database) -> Database:
    """A fully migrated database on each backend."""
    await apply_migrations(empty_db, now=time.time())
    return empty_db
