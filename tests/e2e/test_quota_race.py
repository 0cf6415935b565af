"""Quotas hold under a rush, through the whole bot, on both databases."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.stack import Stack, wait_until


async def test_hundred_concurrent_requests_at_a_limit_of_ten(stack_on_each_db: Stack) -> None:
    """100 members ask for 1 image at once under a server limit of 10: 10 run, 90 are told why."""
    stack = stack_on_each_db
    w = stack.world
    await stack.bot.control.quotas.set_limit(
        w.guild_id, "server", None, 10, "day", actor_id=w.admin.id, now=time.time()
    )
    members = w.add_members(100)
    interactions = await asyncio.gather(*(stack.imagine(m) for m in members))

    def replies() -> list[str]:
        return [stack.reply_text(i) for i in interactions]

    # Every member gets an answer: a progress message or a refusal.
    await stack.discord.wait_for(lambda: all(replies()), timeout=30)
    refused = [t for t in replies() if "This server's limit of 10 images per day" in t]
    assert len(refused) == 90
    assert all("<t:" in t for t in refused)

    async def ten_delivered() -> bool:
        n = await stack.db.fetchval("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'")
        return n == 10

    await wait_until(ten_delivered, timeout=30)
    assert await stack.db.fetchval("SELECT COUNT(*) FROM jobs") == 10
    assert len(stack.kie.tasks_created()) == 10
