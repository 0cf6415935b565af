"""End-to-end fixtures: both stand-ins and the real, unmodified bot, in this process.

`stack` starts the Discord stand-in, the kie stand-in and an ImagineBot logged into the
former and paying the latter, on SQLite (or on each backend with `stack_on_each_db`). The
stack itself is built in `tests/e2e/stack.py`. Any ERROR log from the bot, its cogs or
discord.py fails the test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from imagine_standins.discord import FakeDiscord
from imagine_standins.kie import Durations, FakeKie
from tests.conftest import POSTGRES_URL, _drop_schema, _postgres_schema
from tests.e2e.stack import KIE_KEY, Stack, start_stack, stop_stack
from tests.e2e.subprocess_bot import postgres_url
from tests.standins.discord.fixtures import fake_discord  # noqa: F401 - fixture

WATCHED_LOGGERS = ("bot", "cogs", "discord")


@pytest.fixture(autouse=True)
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Fail the test on any ERROR record from the bot, its cogs or discord.py."""
    allowed: list[str] = []
    caplog.set_level(logging.INFO)
    yield allowed
    bad = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("setup") + caplog.get_records("call")
        if r.levelno >= logging.ERROR
        and r.name.split(".")[0] in WATCHED_LOGGERS
        and not any(a in r.getMessage() for a in allowed)
    ]
    if bad:
        pytest.fail("the bot logged errors:\n" + "\n".join(bad), pytrace=False)


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    """A kie stand-in with sub-second tasks."""
    async with FakeKie(api_key=KIE_KEY, durations=Durations(0.05, 0.05, 0.2)) as fake:
        yield fake


@pytest.fixture
async def sqlite_db(tmp_path: Any) -> AsyncIterator[Database]:
    """A migrated SQLite database in a temporary directory."""
    db = await open_database(f"sqlite:///{tmp_path}/bot.db")
    await apply_migrations(db, now=time.time())
    yield db
    await db.close()


@pytest.fixture
async def pg_db() -> AsyncIterator[Database]:
    """A migrated PostgreSQL database in a schema of its own."""
    schema = await _postgres_schema()
    db = await open_database(POSTGRES_URL, server_settings={"search_path": schema})
    await apply_migrations(db, now=time.time())
    yield db
    await db.close()
    await _drop_schema(schema)


@pytest.fixture
async def pg() -> AsyncIterator[tuple[Database, str]]:
    """A migrated schema, and the DATABASE_URL that names it for child bot processes."""
    schema = await _postgres_schema()
    db = await open_database(POSTGRES_URL, server_settings={"search_path": schema})
    await apply_migrations(db, now=time.time())
    try:
        yield db, postgres_url(POSTGRES_URL, schema)
    finally:
        await db.close()
        await _drop_schema(schema)


@pytest.fixture
async def stack(
    fake_discord: FakeDiscord,  # noqa: F811
    kie: FakeKie,
    sqlite_db: Database,
) -> AsyncIterator[Stack]:
    """The bot, logged in, against both stand-ins, on SQLite."""
    s = await start_stack(fake_discord, kie, sqlite_db)
    yield s
    await stop_stack(s)


@pytest.fixture(params=["sqlite", "postgresql"])
async def stack_on_each_db(
    request: pytest.FixtureRequest,
    fake_discord: FakeDiscord,  # noqa: F811
    kie: FakeKie,
    tmp_path: Any,
) -> AsyncIterator[Stack]:
    """The bot against both stand-ins, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        db = await open_database(f"sqlite:///{tmp_path}/bot.db")
        schema = None
    else:
        schema = await _postgres_schema()
        db = await open_database(POSTGRES_URL, server_settings={"search_path": schema})
    await apply_migrations(db, now=time.time())
    s = await start_stack(fake_discord, kie, db)
    try:
        yield s
    finally:
        await stop_stack(s)
        await db.close()
        if schema is not None:
            await _drop_schema(schema)
