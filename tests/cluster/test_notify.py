"""Messages between processes: every subscriber of every process hears every publish."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from bot.cluster.notify import RESYNC, Notifier, PostgresNotifier
from tests.cluster.conftest import OpenDb
from tests.conftest import POSTGRES_URL


async def _heard(notifier: Notifier, channel: str) -> list[str]:
    heard: list[str] = []
    notifier.subscribe(channel, heard.append)
    return heard


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.01)


async def test_in_process_delivery_reaches_every_subscriber_after_the_call() -> None:
    notifier = Notifier()
    first, second = await _heard(notifier, "jobs"), await _heard(notifier, "jobs")
    other = await _heard(notifier, "settings")
    await notifier.publish("jobs", "a")
    assert first == []  # never inside the publisher's call
    await asyncio.sleep(0)
    assert first == second == ["a"]
    assert other == []


async def test_every_process_hears_a_publish_and_other_schemas_do_not(open_pg: OpenDb) -> None:
    one = PostgresNotifier(await open_pg(), POSTGRES_URL)
    two = PostgresNotifier(await open_pg(), POSTGRES_URL)
    stranger_db = await asyncpg.connect(POSTGRES_URL)
    for notifier in (one, two):
        await notifier.start()
    try:
        heard_one, heard_two = await _heard(one, "jobs"), await _heard(two, "jobs")
        await asyncio.sleep(0.1)  # the LISTENs made after start
        await one.publish("jobs", "job-1")
        await _until(lambda: heard_one == ["job-1"] and heard_two == ["job-1"])
        # The same channel name in the public schema is another channel.
        await stranger_db.execute("SELECT pg_notify('public.jobs', 'not for us')")
        await two.publish("jobs", "job-2")
        await _until(lambda: heard_one == ["job-1", "job-2"] == heard_two)
    finally:
        await stranger_db.close()
        for notifier in (one, two):
            await notifier.close()


async def test_a_publish_in_a_transaction_leaves_only_with_its_commit(open_pg: OpenDb) -> None:
    db = await open_pg()
    notifier = PostgresNotifier(db, POSTGRES_URL)
    heard = await _heard(notifier, "jobs")
    await notifier.start()
    try:
        try:
            async with db.transaction() as tx:
                await notifier.publish("jobs", "rolled back", conn=tx)
                raise RuntimeError
        except RuntimeError:
            pass
        async with db.transaction() as tx:
            await notifier.publish("jobs", "committed", conn=tx)
        await _until(lambda: heard == ["committed"])
    finally:
        await notifier.close()


async def test_a_lost_listening_connection_comes_back_and_says_resync(open_pg: OpenDb) -> None:
    db = await open_pg()
    notifier = PostgresNotifier(db, POSTGRES_URL, check_every=0.2, retry_after=0.1)
    heard = await _heard(notifier, "jobs")
    await notifier.start()
    try:
        assert notifier._conn is not None
        pid = notifier._conn.get_server_pid()
        await db.execute("SELECT pg_terminate_backend($1)", pid)
        await _until(lambda: heard == [RESYNC])
        assert notifier.connected
        await notifier.publish("jobs", "after")
        await _until(lambda: heard == [RESYNC, "after"])
    finally:
        await notifier.close()
