"""One small database interface over SQLite (aiosqlite) and PostgreSQL (asyncpg).

Queries are written once, in PostgreSQL's numbered-parameter style (`$1`, `$2`, …). SQLite
accepts the same numbers as `?1`, `?2`, so the SQLite backend only swaps the sigil; SQL text
must therefore never contain a literal `$`. Rows come back as plain dicts on both backends.

SQLite has one connection: every statement and transaction takes a lock so that concurrent
coroutines never interleave inside each other's transaction. Transactions there start with
`BEGIN IMMEDIATE`, which takes SQLite's write lock up front, so a reservation's read and write
happen under one lock, as `SELECT … FOR UPDATE` gives on PostgreSQL.

SQLite runs with `synchronous=FULL`: in WAL mode `NORMAL` lets a power cut lose the last
commits (say, the write marking a job SUBMITTING just before its paid createTask goes out, so
the task would be sent again after a reboot). `FULL` syncs the WAL at every commit; the cost is
measured by `bench/sqlite_durability.py`.

Cancellation never leaves the SQLite connection inside a transaction: aiosqlite runs each
statement on its own thread, where a cancelled caller cannot stop it, so BEGIN, COMMIT and
ROLLBACK are awaited to the end (a cancellation is raised once they are done) and the block is
rolled back on any exception, cancellation included. A cancellation that arrives before COMMIT
starts leaves nothing written; one that arrives during COMMIT is raised after the commit. On
PostgreSQL asyncpg's transaction block gives the same guarantees (tests/store/test_database.py
shows both).

Every hand-over to aiosqlite's thread costs a wake-up of each side (and, in a busy process, a
wait for the GIL), so on SQLite a statement is one hand-over (run, fetch, close together), and
`run_transaction` runs a whole block, BEGIN to COMMIT, in one: a burst of /imagine is written a
batch per hand-over (bench/line_bench.py measures it).
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite
import asyncpg

__all__ = ["Connection", "Database", "open_database"]

Row = dict[str, Any]
T = TypeVar("T")
_PARAM = re.compile(r"\$(\d+)")


class Connection(Protocol):
    """What queries run on: the database itself, or one open transaction."""

    dialect: str

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Return all rows."""
        ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """Return the first row, or None."""
        ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """Return the first column of the first row, or None."""
        ...


class Database(Connection, Protocol):
    """A connection that can also open transactions and be closed."""

    def transaction(self) -> Any:
        """Return an async context manager yielding a Connection inside one transaction."""
        ...

    async def run_transaction(self, block: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        """Run `block(tx)` in one transaction (committed if it returns, else rolled back).

        The block may await nothing but `tx`'s statements: on SQLite it runs whole on the
        database's thread (no event loop there), which refuses a block that awaits anything
        else.
        """
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


@functools.lru_cache(maxsize=1024)
def _sqlite_sql(sql: str) -> str:
    return _PARAM.sub(r"?\1", sql)


async def _to_the_end(aw: Awaitable[T]) -> T:
    """Await `aw` until it is done even if the caller is cancelled meanwhile; then re-raise.

    `asyncio.shield` alone would hand the cancellation back at once while the statement still
    runs on aiosqlite's thread, so the caller could neither see how it ended nor clean up.
    Only BEGIN, COMMIT and ROLLBACK go through here; each is bounded by `busy_timeout`.
    """
    task = asyncio.ensure_future(aw)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller gets
        raise cancelled
    return task.result()


def _changed(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    """Run a statement on SQLite's thread; return the number of rows it changed."""
    cursor = conn.execute(_sqlite_sql(sql), args)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    """Run a statement on SQLite's thread; return its rows."""
    cursor = conn.execute(_sqlite_sql(sql), args)
    try:
        return [dict(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


class _SqliteTx:
    """Statements on the SQLite connection while its lock is held: one hand-over each."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    def _on_thread(self, run: Callable[..., T], sql: str, args: Sequence[Any]) -> Awaitable[T]:
        # aiosqlite's own way to run a function on its thread (every method of it uses it).
        return self._conn._execute(lambda: run(self._conn._conn, sql, args))

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._on_thread(_changed, sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._on_thread(_rows, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))


class _SqliteHere:
    """Statements run at once, on SQLite's thread, inside `run_transaction`."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return _changed(self._conn, sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return _rows(self._conn, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = _rows(self._conn, sql, args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = _rows(self._conn, sql, args)
        return next(iter(rows[0].values())) if rows else None


def _run_here(conn: sqlite3.Connection, block: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
    """On SQLite's thread: BEGIN IMMEDIATE, the block, COMMIT; ROLLBACK if anything raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        coro = block(_SqliteHere(conn))
        try:
            coro.send(None)
        except StopIteration as done:
            result: T = done.value
        else:
            coro.close()
            raise RuntimeError("a block run by run_transaction awaited more than its statements")
        conn.execute("COMMIT")
    except BaseException:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            # Some errors end the transaction themselves (a full disk, say).
            if conn.in_transaction:
                raise
        raise
    return result


class SqliteDatabase:
    """SQLite through one aiosqlite connection guarded by a lock."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._plain = _SqliteTx(conn)

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        """Open (creating its directory) the SQLite file at `path`."""
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves; otherwise autocommit.
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=5000",
        ):
            await conn.execute(pragma)
        return cls(conn)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._lock:
            return await self._plain.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock:
            return await self._plain.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._lock:
            return await self._plain.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._lock:
            return await self._plain.fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Run the block in one IMMEDIATE transaction; roll back if it raises or is cancelled."""
        async with self._lock:
            try:
                await _to_the_end(self._statement("BEGIN IMMEDIATE"))
            except BaseException:
                # Cancelled while BEGIN ran (it then finished) or BEGIN failed: whichever, the
                # connection must not stay inside a transaction nobody will end.
                await self._rollback_if_open()
                raise
            try:
                yield self._plain
            except BaseException:
                await self._rollback_if_open()
                raise
            try:
                await _to_the_end(self._statement("COMMIT"))
            except BaseException:
                # A COMMIT that fails (a deferred foreign key, a busy database) leaves the
                # transaction open; a cancelled one has finished, committed, before this runs.
                await self._rollback_if_open()
                raise

    async def _statement(self, sql: str) -> None:
        cursor = await self._conn.execute(sql)
        await cursor.close()

    async def _rollback_if_open(self) -> None:
        if not self._conn.in_transaction:
            return
        try:
            await _to_the_end(self._statement("ROLLBACK"))
        except sqlite3.OperationalError:
            # Some errors end the transaction themselves (SQLite rolls back on a full disk,
            # say), possibly in a statement that was still running when we looked.
            if self._conn.in_transaction:
                raise

    async def run_transaction(self, block: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        """Run `block` in one IMMEDIATE transaction, BEGIN to COMMIT in one hand-over."""
        conn = self._conn
        async with self._lock:
            # Awaited to the end, like BEGIN and COMMIT: the lock is held until it is over.
            return await _to_the_end(conn._execute(lambda: _run_here(conn._conn, block)))

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()


class _PgConn:
    """Statements on one asyncpg connection."""

    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._conn.execute(sql, *args)
        return _rowcount(status)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(sql, *args)
        return None if row is None else dict(row)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(sql, *args)


def _rowcount(status: str) -> int:
    # asyncpg returns the command tag, e.g. "UPDATE 3" or "INSERT 0 1".
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDatabase:
    """PostgreSQL through an asyncpg pool."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls, dsn: str, *, server_settings: Mapping[str, str] | None = None
    ) -> PostgresDatabase:
        """Connect a small pool to `dsn`."""
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=10, server_settings=dict(server_settings or {})
        )
        return cls(pool)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).fetchval(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Run the block in one transaction on one pooled connection."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgConn(conn)

    async def run_transaction(self, block: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        """Run `block` in one transaction on one pooled connection."""
        async with self.transaction() as tx:
            return await block(tx)

    async def close(self) -> None:
        await self._pool.close()


async def open_database(
    url: str, *, server_settings: Mapping[str, str] | None = None
) -> SqliteDatabase | PostgresDatabase:
    """Open the database that `url` (`DATABASE_URL`: `sqlite:///PATH` or `postgresql://…`) names."""
    if url.startswith("sqlite:///"):
        return await SqliteDatabase.open(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return await PostgresDatabase.open(url, server_settings=server_settings)
    raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql://")


def split_statements(script: str) -> Sequence[str]:
    """Split a migration file into statements at semicolons that end a line."""
    statements, current = [], []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or not stripped:
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements
