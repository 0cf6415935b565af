"""Graceful shutdown: nothing under way is lost or half-sent, and a restart finishes it."""

from __future__ import annotations

from bot.jobs.models import JobState
from bot.kie import KieLimiter, RateLimit
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord
from imagine_standins.kie import Durations, FakeKie
from tests.e2e.stack import KIE_KEY, Stack, start_stack, stop_stack, wait_until


async def test_shutdown_keeps_queued_jobs_queued_and_restart_delivers_each_once(
    fake_discord: FakeDiscord, sqlite_db: Database
) -> None:
    """Jobs waiting for a createTask slot stay queued across a stop; a restart delivers all."""
    async with FakeKie(api_key=KIE_KEY, durations=Durations(0.1, 0.1, 0.5)) as kie:
        # One createTask per 30 s: the second and third jobs must wait for a slot.
        slow = KieLimiter(create_limit=RateLimit(1, 30.0, margin=0.0))
        stack = await start_stack(fake_discord, kie, sqlite_db, limiter=slow)
        world = fake_discord.world
        for member in (world.alice, world.bob, world.carol):
            await stack.imagine(member)

        async def three_jobs_one_sent() -> bool:
            rows = await sqlite_db.fetch("SELECT state FROM jobs")
            return len(rows) == 3 and len(kie.tasks_created()) == 1

        await wait_until(three_jobs_one_sent)
        await stop_stack(stack)
        states = sorted(r["state"] for r in await sqlite_db.fetch("SELECT state FROM jobs"))
        assert states.count("queued") == 2, states
        assert "submitting" not in states

        stack = await start_stack(fake_discord, kie, sqlite_db)
        try:

            async def all_delivered() -> bool:
                rows = await sqlite_db.fetch("SELECT state FROM jobs")
                return all(r["state"] == JobState.DELIVERED.value for r in rows)

            await wait_until(all_delivered, timeout=20)
            assert len(kie.tasks_created()) == 3
            for job in await stack.store.unfinished():
                raise AssertionError(f"unfinished job {job.id}")
            jobs = [
                await stack.store.get(r["id"]) for r in await sqlite_db.fetch("SELECT id FROM jobs")
            ]
            for job in jobs:
                assert job is not None
                assert len(stack.results_for(job)) == 1
        finally:
            await stop_stack(stack)


async def test_commands_during_shutdown_get_a_polite_reply(stack: Stack) -> None:
    """Once shutdown has begun, /imagine is answered privately and nothing is queued."""
    stack.bot.engine.accepting = False
    interaction = await stack.imagine()
    await stack.wait_reply(interaction, "restarting")
    assert stack.discord.original_for(interaction).ephemeral  # type: ignore[union-attr]
    assert await stack.db.fetchval("SELECT COUNT(*) FROM jobs") == 0
