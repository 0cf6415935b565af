"""Messages between the bot's processes: "this changed", delivered to every process at once.

`publish(channel, payload)` reaches every handler `subscribe`d to `channel` in every process,
this one included, on its event loop. Payloads are short strings (PostgreSQL caps a NOTIFY at
8000 bytes); what they mean is the subscriber's business.

- `Notifier` (SQLite, one process): delivered in the process, in publish order.
- `PostgresNotifier`: PostgreSQL's LISTEN/NOTIFY. Publishing goes through the database pool
  (inside a caller's transaction when given `conn`, so the message leaves only if the
  transaction commits); listening holds one dedicated connection. A NOTIFY sent while that
  connection was down is lost, so after every reconnect each handler is called once with
  `RESYNC`: a subscriber that caches must then reload what it caches, and one that waits
  for events must look again at what it waits for.

Channels are named within the connection's schema (`<schema>.<channel>`), so two bots (or two
tests) in different schemas of one database never hear each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg

from bot.store.database import Connection, Database

__all__ = ["MAX_PAYLOAD", "RESYNC", "Notifier", "PostgresNotifier"]

log = logging.getLogger(__name__)

# Handed to every handler after the listening connection came back: messages may have been
# missed meanwhile. No published payload can equal it (publish refuses it).
RESYNC = "\x00resync"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
MAX_PAYLOAD = 7999

Handler = Callable[[str], None]


class Notifier:
    """In-process delivery (SQLite: one process); the interface of every notifier."""

    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler(payload)` on the event loop for every message on `channel`."""
        self._handlers[channel].append(handler)

    async def publish(self, channel: str, payload: str, *, conn: Connection | None = None) -> None:
        """Send `payload` to every subscriber of `channel` (after `conn`'s commit, if given)."""
        _check(payload)
        loop = asyncio.get_running_loop()
        # Soon, not now: a handler never runs inside its publisher's call, as with NOTIFY.
        loop.call_soon(self._deliver, channel, payload)

    async def start(self) -> None:
        """Begin delivering (nothing to connect in one process)."""

    async def close(self) -> None:
        """Stop delivering."""
        self._handlers.clear()

    def _deliver(self, channel: str, payload: str) -> None:
        for handler in list(self._handlers.get(channel, ())):
            try:
                handler(payload)
            except Exception:
                log.exception("notify: handler for %r failed", channel)

    def _resync(self) -> None:
        for channel in list(self._handlers):
            self._deliver(channel, RESYNC)


def _check(payload: str) -> None:
    if payload == RESYNC:
        raise ValueError("that payload is reserved for RESYNC")
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"a notification payload is at most {MAX_PAYLOAD} bytes")


class PostgresNotifier(Notifier):
    """LISTEN/NOTIFY on PostgreSQL: every process's handlers hear every publish."""

    def __init__(
        self,
        db: Database,
        dsn: str,
        *,
        check_every: float = 5.0,
        retry_after: float = 1.0,
    ) -> None:
        super().__init__()
        self.db = db
        self.dsn = dsn
        # How often the listening connection is checked (a dead TCP peer says nothing).
        self.check_every = check_every
        self.retry_after = retry_after
        self._prefix = ""
        self._conn: asyncpg.Connection | None = None
        self._listening: set[str] = set()
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False
        # asyncpg runs one operation at a time on a connection: LISTENs and checks take turns.
        self._turn = asyncio.Lock()

    def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler(payload)` for every message on `channel`, from any process."""
        super().subscribe(channel, handler)
        conn = self._conn
        if conn is not None and channel not in self._listening:
            # LISTEN on the running connection; if that fails, the reconnect LISTENs it.
            self._listening.add(channel)
            task = asyncio.ensure_future(self._listen(conn, channel))
            task.add_done_callback(self._listen_done)

    async def publish(self, channel: str, payload: str, *, conn: Connection | None = None) -> None:
        """NOTIFY every process (delivered at commit when `conn` is a transaction)."""
        _check(payload)
        await (conn or self.db).execute("SELECT pg_notify($1, $2)", self._name(channel), payload)

    async def start(self) -> None:
        """Connect the listening connection; keep it up until `close`."""
        self._prefix = str(await self.db.fetchval("SELECT current_schema()")) + "."
        await self._connect()
        self._keeper = asyncio.create_task(self._keep(), name="notify-listener")

    async def close(self) -> None:
        """Stop listening and close the connection."""
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self._drop()
        await super().close()

    @property
    def connected(self) -> bool:
        """Return whether the listening connection is up."""
        return self._conn is not None and not self._conn.is_closed()

    def _name(self, channel: str) -> str:
        return self._prefix + channel

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        self._conn = conn
        self._listening = set(self._handlers)
        for channel in self._listening:
            await self._listen(conn, channel)

    async def _listen(self, conn: asyncpg.Connection, channel: str) -> None:
        async with self._turn:
            await conn.add_listener(self._name(channel), self._on_notify)

    def _listen_done(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("notify: LISTEN failed (%r); reconnecting", task.exception())
            self._lost.set()

    def _on_notify(self, _conn: Any, _pid: int, name: str, payload: str) -> None:
        if name.startswith(self._prefix):
            self._deliver(name[len(self._prefix) :], payload)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)
            if not conn.is_closed():
                conn.terminate()

    async def _keep(self) -> None:
        """Check the connection now and then; on loss reconnect, then tell everyone RESYNC."""
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.check_every)
            if not self._lost.is_set() and await self._alive():
                continue
            self._lost.clear()
            log.warning("notify: the listening connection was lost; reconnecting")
            await self._drop()
            while not self._closing:
                try:
                    await self._connect()
                    break
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("notify: reconnect failed (%r); retrying", exc)
                    await asyncio.sleep(self.retry_after)
            log.info("notify: listening again; subscribers resync")
            self._resync()

    async def _alive(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            async with self._turn:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self.check_every)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True
