"""The database layer: durable SQLite commits, and transactions that survive cancellation.

A task cancelled anywhere inside `transaction()` (waiting for BEGIN, in the block, during
COMMIT or ROLLBACK) must leave the connection outside any transaction and the block's writes
either all committed or none. Each backend is tested on a single connection, so a connection
left inside a transaction would break the very next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from bot.store.database import Connection, Database, PostgresDatabase, SqliteDatabase
from tests.conftest import POSTGRES_URL, _drop_schema, _postgres_schema

TABLE = "CREATE TABLE probe (k TEXT NOT NULL, part INTEGER NOT NULL, PRIMARY KEY (k, part))"


@contextlib.asynccontextmanager
async def _single_connection(kind: str, tmp_path) -> AsyncIterator[Database]:
    """A database with one connection (SQLite's own; a PostgreSQL pool of one) and a table."""
    if kind == "sqlite":
        db: Database = await SqliteDatabase.open(str(tmp_path / "test.db"))
        await db.execute(TABLE)
        try:
            yield db
        finally:
            await db.close()
        return
    schema = await _postgres_schema()
    pool = await asyncpg.create_pool(
        POSTGRES_URL, min_size=1, max_size=1, server_settings={"search_path": schema}
    )
    db = PostgresDatabase(pool)
    await db.execute(TABLE)
    try:
        yield db
    finally:
        await db.close()
        await _drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
async def one_conn(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:
    """One connection on each backend."""
    async with _single_connection(request.param, tmp_path) as db:
        yield db


@pytest.fixture
async def pg_one_conn(tmp_path) -> AsyncIterator[Database]:
    """One PostgreSQL connection."""
    async with _single_connection("postgresql", tmp_path) as db:
        yield db


async def _write_two(db: Database, key: str, *, between: Callable[[], object] | None = None):
    """Write the two parts of `key` in one transaction, yielding to the loop in between."""
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO probe (k, part) VALUES ($1, 1)", key)
        await asyncio.sleep(0)
        if between is not None:
            between()
        await tx.execute("INSERT INTO probe (k, part) VALUES ($1, 2)", key)


async def _parts(db: Database, key: str) -> int:
    return await db.fetchval("SELECT COUNT(*) FROM probe WHERE k = $1", key)


async def _next_transaction_works(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO probe (k, part) VALUES ('next', 1)")
        await tx.execute("DELETE FROM probe WHERE k = 'next'")
    assert await _parts(db, "next") == 0


async def test_sqlite_commits_are_durable(tmp_path) -> None:
    """SQLite syncs at every commit (synchronous=FULL), so a power cut loses no commit."""
    db = await SqliteDatabase.open(str(tmp_path / "test.db"))
    try:
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA synchronous") == 2  # 2 is FULL; NORMAL is 1
    finally:
        await db.close()


async def test_cancelled_anywhere_in_a_transaction(one_conn: Database) -> None:
    """Cancelled after any number of loop turns, a transaction writes all or nothing, and the
    connection takes the next transaction."""
    db = one_conn
    outcomes = {"nothing": 0, "all": 0, "finished": 0}
    turns = 0
    finished_in_a_row = 0
    while finished_in_a_row < 5:
        key = f"k{turns}"
        task = asyncio.create_task(_write_two(db, key))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            finished_in_a_row = 0
            outcomes["all" if await _parts(db, key) else "nothing"] += 1
        else:
            finished_in_a_row += 1
            outcomes["finished"] += 1
        assert await _parts(db, key) in (0, 2)
        await _next_transaction_works(db)
        turns += 1
        assert turns < 20_000, outcomes
    assert outcomes["nothing"] > 0 and outcomes["finished"] > 0, outcomes


async def test_cancelled_after_any_delay(one_conn: Database) -> None:
    """The same with cancellations spread over a transaction's real duration (I/O included)."""
    db = one_conn
    started = asyncio.get_running_loop().time()
    await _write_two(db, "timing")
    duration = asyncio.get_running_loop().time() - started
    for step in range(60):
        key = f"d{step}"
        task = asyncio.create_task(_write_two(db, key))
        await asyncio.sleep(duration * step / 40)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await _parts(db, key) in (0, 2)
        await _next_transaction_works(db)


async def test_failed_commit_leaves_no_transaction_open(one_conn: Database) -> None:
    """A COMMIT that fails (a deferred foreign key here) rolls back; the next one works."""
    db = one_conn
    await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await db.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER"
        " REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO probe (k, part) VALUES ('orphan', 1)")
            await tx.execute("INSERT INTO child (id, parent_id) VALUES (1, 42)")
    assert await _parts(db, "orphan") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM child") == 0
    await _next_transaction_works(db)


async def test_cancelled_during_a_slow_postgres_commit(pg_one_conn: Database) -> None:
    """PostgreSQL: cancelled while COMMIT runs (a deferred trigger sleeps in it), the
    transaction is all or nothing and the pooled connection comes back clean. (SQLite's
    equivalent is test_sqlite_cancelled_while_a_statement_runs.)"""
    db = pg_one_conn
    await db.execute(
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS"
        " 'BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END'"
    )
    await db.execute(
        "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON probe"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.k = 'slow') EXECUTE FUNCTION slow()"
    )
    block_done = asyncio.Event()
    task = asyncio.create_task(_write_two(db, "slow", between=block_done.set))
    await block_done.wait()
    await asyncio.sleep(0.1)  # the second insert is done; COMMIT is sleeping in the trigger
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await _parts(db, "slow") in (0, 2)
    await _next_transaction_works(db)


class _Gate:
    """Holds aiosqlite's worker thread at the start of one statement until opened."""

    def __init__(self, statement: str) -> None:
        self.statement = statement
        self.reached = threading.Event()
        self.opened = threading.Event()

    def trace(self, sql: str) -> None:
        if sql.startswith(self.statement) and not self.reached.is_set():
            self.reached.set()
            self.opened.wait(10)


@pytest.mark.parametrize(
    ("statement", "committed"),
    [
        ("BEGIN IMMEDIATE", False),
        ("INSERT INTO probe (k, part) VALUES ('gated', 1)", False),
        ("INSERT INTO probe (k, part) VALUES ('gated', 2)", False),
        ("COMMIT", True),
    ],
)
async def test_sqlite_cancelled_while_a_statement_runs(
    tmp_path, statement: str, committed: bool
) -> None:
    """Cancelled while aiosqlite's thread runs BEGIN, a write or COMMIT (it can't be stopped
    there), the transaction ends before the cancellation is raised: no transaction stays open,
    and the writes are all committed (cancelled during COMMIT) or none (before)."""
    db = await SqliteDatabase.open(str(tmp_path / "test.db"))
    try:
        await db.execute(TABLE)
        gate = _Gate(statement)
        await db._conn.set_trace_callback(gate.trace)
        task = asyncio.create_task(_write_two(db, "gated"))
        assert await asyncio.to_thread(gate.reached.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)  # a transaction that gave up would now release the lock
        gate.opened.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not db._conn.in_transaction
        assert await _parts(db, "gated") == (2 if committed else 0)
        await _next_transaction_works(db)
    finally:
        await db.close()


async def test_sqlite_cancelled_during_rollback(tmp_path) -> None:
    """A block that fails and is then cancelled while ROLLBACK runs still ends rolled back."""
    db = await SqliteDatabase.open(str(tmp_path / "test.db"))
    try:
        await db.execute(TABLE)
        gate = _Gate("ROLLBACK")
        await db._conn.set_trace_callback(gate.trace)

        async def fails() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO probe (k, part) VALUES ('rb', 1)")
                raise RuntimeError("the block failed")

        task = asyncio.create_task(fails())
        assert await asyncio.to_thread(gate.reached.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        gate.opened.set()
        with pytest.raises((asyncio.CancelledError, RuntimeError)):
            await task
        assert not db._conn.in_transaction
        assert await _parts(db, "rb") == 0
        await _next_transaction_works(db)
    finally:
        await db.close()


async def _two_parts(tx: Connection, key: str) -> int:
    """A block for run_transaction: write both parts of `key`, return how many rows changed."""
    changed = await tx.execute("INSERT INTO probe (k, part) VALUES ($1, 1)", key)
    changed += await tx.execute("INSERT INTO probe (k, part) VALUES ($1, 2)", key)
    return changed


async def test_run_transaction_commits_a_block_that_returns(one_conn: Database) -> None:
    db = one_conn
    assert await db.run_transaction(lambda tx: _two_parts(tx, "ran")) == 2
    assert await _parts(db, "ran") == 2

    async def reads(tx: Connection) -> tuple[object, object, object]:
        return (
            await tx.fetchval("SELECT COUNT(*) FROM probe WHERE k = $1", "ran"),
            await tx.fetchrow("SELECT part FROM probe WHERE k = $1 AND part = 2", "ran"),
            await tx.fetchrow("SELECT part FROM probe WHERE k = $1", "none"),
        )

    assert await db.run_transaction(reads) == (2, {"part": 2}, None)


async def test_run_transaction_rolls_back_a_block_that_raises(one_conn: Database) -> None:
    db = one_conn

    async def fails(tx: Connection) -> None:
        await _two_parts(tx, "failed")
        raise LookupError("the block failed")

    with pytest.raises(LookupError, match="the block failed"):
        await db.run_transaction(fails)
    assert await _parts(db, "failed") == 0
    # A statement's own error (a duplicate key) rolls back the earlier writes as well.
    await db.execute("INSERT INTO probe (k, part) VALUES ('dup', 2)")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await db.run_transaction(lambda tx: _two_parts(tx, "dup"))
    assert await _parts(db, "dup") == 1
    await _next_transaction_works(db)


async def test_sqlite_run_transaction_refuses_a_block_that_awaits_the_loop(tmp_path) -> None:
    """On SQLite the block runs on the database's thread: one that awaits anything but its
    statements is refused, and what it wrote is rolled back."""
    db = await SqliteDatabase.open(str(tmp_path / "test.db"))
    try:
        await db.execute(TABLE)

        async def sleeps(tx: Connection) -> None:
            await tx.execute("INSERT INTO probe (k, part) VALUES ('slept', 1)")
            await asyncio.sleep(0)

        with pytest.raises(RuntimeError, match="awaited more than its statements"):
            await db.run_transaction(sleeps)
        assert not db._conn.in_transaction
        assert await _parts(db, "slept") == 0
        await _next_transaction_works(db)
    finally:
        await db.close()


async def test_sqlite_run_transaction_cancelled_while_it_runs(tmp_path) -> None:
    """Cancelled while the block runs on SQLite's thread, the caller waits for the end: the
    block commits (nothing can stop it there), the cancellation is raised after, and the lock
    was held throughout (the next transaction works)."""
    db = await SqliteDatabase.open(str(tmp_path / "test.db"))
    try:
        await db.execute(TABLE)
        gate = _Gate("INSERT INTO probe (k, part) VALUES ('gated', 2)")
        await db._conn.set_trace_callback(gate.trace)
        task = asyncio.create_task(db.run_transaction(lambda tx: _two_parts(tx, "gated")))
        assert await asyncio.to_thread(gate.reached.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        # Meanwhile another transaction waits for the lock rather than joining this one.
        other = asyncio.create_task(_write_two(db, "other"))
        await asyncio.sleep(0.05)
        assert not other.done()
        gate.opened.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await other
        assert await _parts(db, "gated") == 2
        assert await _parts(db, "other") == 2
        await _next_transaction_works(db)
    finally:
        await db.close()
