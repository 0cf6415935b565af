"""Admin settings cached in several processes: a change in one is seen by all within a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.cluster.notify import PostgresNotifier
from bot.control import Control
from tests.cluster.conftest import OpenDb
from tests.conftest import POSTGRES_URL

GUILD, CHANNEL, ADMIN = 111, 222, 333
# The promise: every process forgets a changed setting within a second.
WITHIN = 1.0


async def _seen(check: Callable[[], Awaitable[bool]], timeout: float = WITHIN) -> None:
    """Re-check until true; fail once `timeout` passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"not seen within {timeout} s"
        await asyncio.sleep(0.01)


@pytest.fixture
async def processes(open_pg: OpenDb) -> AsyncIterator[list[tuple[Control, PostgresNotifier]]]:
    """Two processes' Control on one schema, each with its own pool and notifier."""
    made = []
    for _ in range(2):
        db = await open_pg()
        notifier = PostgresNotifier(db, POSTGRES_URL, check_every=0.2, retry_after=0.1)
        control = Control.for_database(db, notifier=notifier)
        await notifier.start()
        made.append((control, notifier))
    yield made
    for _, notifier in made:
        await notifier.close()


async def test_channel_and_blocklist_changes_reach_the_other_process(
    processes: list[tuple[Control, PostgresNotifier]], open_pg: OpenDb
) -> None:
    """B has the guild's settings and blocklist cached; A disables the channel, changes the
    mode and blocks a word: B sees each within a second. A third Control without a notifier
    (what the cache did before) stays stale, so B's cache was really in use."""
    (a, _), (b, _) = processes
    deaf = Control.for_database(await open_pg())
    for control in (b, deaf):
        assert (await control.channels.get(GUILD, CHANNEL)).enabled is None
        assert await control.channels.get_mode(GUILD) == "open"
        assert await control.blocklist.check(GUILD, "a cat") is None

    await a.channels.disable(GUILD, CHANNEL, actor_id=ADMIN, now=1.0)
    await a.channels.set_mode(GUILD, "allowlist", actor_id=ADMIN, now=2.0)
    await a.blocklist.add(GUILD, "cat", actor_id=ADMIN, now=3.0)

    async def b_sees_all() -> bool:
        return (
            (await b.channels.get(GUILD, CHANNEL)).enabled is False
            and await b.channels.get_mode(GUILD) == "allowlist"
            and await b.blocklist.check(GUILD, "a cat") == "cat"
        )

    await _seen(b_sees_all)
    assert (await deaf.channels.get(GUILD, CHANNEL)).enabled is None
    assert await deaf.channels.get_mode(GUILD) == "open"
    assert await deaf.blocklist.check(GUILD, "a cat") is None

    # And back: removing the word reaches A's other copy too (the writer's own cache).
    await b.blocklist.remove(GUILD, "cat", actor_id=ADMIN, now=4.0)

    async def a_sees_removal() -> bool:
        return await a.blocklist.check(GUILD, "a cat") is None

    await _seen(a_sees_removal)


async def test_a_refused_change_tells_nobody(
    processes: list[tuple[Control, PostgresNotifier]],
) -> None:
    """A write that fails rolls back its notice with it: B's cache is not dropped for it."""
    (a, _), (b, _) = processes
    await a.blocklist.add(GUILD, "cat", actor_id=ADMIN, now=1.0)
    await _seen(lambda: _blocks(b, "a cat"))
    dropped: list[int] = []
    forget = b.blocklist.invalidate

    def counting(guild_id: int) -> None:
        dropped.append(guild_id)
        forget(guild_id)

    b.blocklist._notices._forget = counting
    with pytest.raises(Exception, match="already on the blocklist"):
        await a.blocklist.add(GUILD, "cat", actor_id=ADMIN, now=2.0)
    await a.blocklist.add(GUILD, "dog", actor_id=ADMIN, now=3.0)
    await _seen(lambda: _blocks(b, "a dog"))
    assert dropped == [GUILD]  # the dog's notice only


async def _blocks(control: Control, text: str) -> bool:
    return await control.blocklist.check(GUILD, text) is not None


async def test_after_a_lost_listening_connection_everything_cached_is_forgotten(
    processes: list[tuple[Control, PostgresNotifier]], open_pg: OpenDb
) -> None:
    """A change made while B's listening connection was down (its notice missed): B's
    reconnect says RESYNC and B forgets every guild's settings, so it sees the change."""
    (a, _), (b, b_notifier) = processes
    assert await b.channels.get_mode(GUILD) == "open"
    assert b_notifier._conn is not None
    # Stop B from reconnecting until the change is made, then cut its connection.
    real_connect = b_notifier._connect
    allowed = asyncio.Event()

    async def late_connect() -> None:
        await allowed.wait()
        await real_connect()

    b_notifier._connect = late_connect  # type: ignore[method-assign]
    killer = await open_pg()
    await killer.execute("SELECT pg_terminate_backend($1)", b_notifier._conn.get_server_pid())
    await a.channels.set_mode(GUILD, "allowlist", actor_id=ADMIN, now=1.0)
    await asyncio.sleep(0.3)
    assert await b.channels.get_mode(GUILD) == "open"  # missed: still cached
    allowed.set()

    async def b_sees_mode() -> bool:
        return await b.channels.get_mode(GUILD) == "allowlist"

    await _seen(b_sees_mode, timeout=5.0)
