"""Delivery under Discord's limits: large images, expired tokens, many members at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.jobs.models import JobState
from bot.kie import KieLimiter, RateLimit
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord
from imagine_standins.kie import Durations, FakeKie
from tests.e2e.stack import KIE_KEY, Stack, start_stack, stop_stack, text_of, wait_until

TEN_MIB = 10 * 1024 * 1024


async def test_six_large_4k_images_fit_a_10_mib_limit(stack: Stack) -> None:
    """Six multi-MiB 4K images all arrive, every message within the 10 MiB limit."""
    stack.kie.large_images = True
    interaction = await stack.imagine(
        prompt="six detailed maps", resolution="4K", images=6, attachment_size_limit=TEN_MIB
    )
    job = await stack.wait_job((await stack.job_for(interaction)).id, timeout=120)
    assert job.state is JobState.DELIVERED, job.fail_message
    results = stack.results_for(job)
    assert sum(len(m.attachments) for m in results) == 6
    for message in results:
        assert sum(a.size for a in message.attachments) <= TEN_MIB
    # Six originals of at least 4 MiB would need three messages or more; re-encoded at high
    # quality they share one, and each original is linked at full resolution.
    assert job.result_urls and len(results) == 1
    text = text_of(results[0])
    assert "Full resolution" in text
    assert all(url in text for url in job.result_urls)


@pytest.fixture
async def short_tokens(
    fake_discord: FakeDiscord, kie: FakeKie, sqlite_db: Database
) -> AsyncIterator[Stack]:
    """A bot whose interaction tokens expire after 2 s (Discord: 15 min)."""
    fake_discord.token_lifetime = 2
    s = await start_stack(fake_discord, kie, sqlite_db)
    yield s
    await stop_stack(s)


async def test_expired_token_delivers_to_the_channel(short_tokens: Stack) -> None:
    """A job ending after the token expired is posted in the channel, mentioning the requester."""
    stack = short_tokens
    stack.kie.durations = Durations(0.1, 0.1, 2.5)
    interaction = await stack.imagine(prompt="slow sunrise @everyone")
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    assert job.delivered_via == "channel"
    [result] = stack.results_for(job)
    assert result.kind == "channel"
    assert result.pinged_user_ids == {stack.world.alice.id}
    assert f"<@{stack.world.alice.id}>" in result.content


async def test_two_hundred_members_never_exceed_kie_limits(
    fake_discord: FakeDiscord, sqlite_db: Database
) -> None:
    """200 members at once: all delivered, and kie never sees more than its limits."""
    # kie's limits scaled 10x faster on both sides so the test takes seconds, not minutes.
    create, read = (20, 1.0), (10, 0.1)
    async with FakeKie(
        api_key=KIE_KEY, durations=Durations(0.1, 0.1, 0.3), create_limit=create, read_limit=read
    ) as kie:
        limiter = KieLimiter(
            create_limit=RateLimit(create[0], create[1], margin=0.05),
            read_limit=RateLimit(read[0], read[1], margin=0.01),
        )
        stack = await start_stack(fake_discord, kie, sqlite_db, limiter=limiter)
        try:
            members = fake_discord.world.add_members(200)
            interactions = await asyncio.gather(
                *(stack.imagine(m, prompt=f"portrait {i}") for i, m in enumerate(members))
            )
            assert all(i.response_type == 5 for i in interactions)

            async def all_finished() -> bool:
                done = await stack.db.fetchval(
                    "SELECT COUNT(*) FROM jobs WHERE state IN ('delivered', 'failed')"
                )
                return done == 200

            await wait_until(all_finished, timeout=120, interval=0.2)
            states = await stack.db.fetch("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            assert {r["state"]: r["n"] for r in states} == {"delivered": 200}
            assert len(kie.tasks_created()) == 200
            assert kie.max_in_window("createTask", create[1]) <= create[0]
            assert kie.max_in_window("recordInfo", read[1]) <= read[0]
            assert all(r.code != 429 for r in kie.requests)
        finally:
            await stop_stack(stack)
