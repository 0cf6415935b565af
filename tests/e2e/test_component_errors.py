"""Buttons and the Remix modal answer every failure privately, as slash commands do."""

from __future__ import annotations

from typing import Any

import pytest

from bot.jobs.models import JobState
from bot.tree import GENERIC_FAILURE
from tests.e2e.stack import Stack


async def _delivered_result(stack: Stack) -> tuple[Any, str]:
    """Run /imagine to the end; return its result message and the job id."""
    interaction = await stack.imagine(prompt="a lighthouse")
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    [result] = stack.results_for(job)
    return result, job.id


def _break(stack: Stack, monkeypatch: pytest.MonkeyPatch, action: str) -> None:
    """Make the Imagine cog's `action` raise a plain exception."""

    async def broken(*_: Any) -> None:
        raise RuntimeError(f"{action} broke")

    monkeypatch.setattr(stack.bot.get_cog("Imagine"), action, broken)


async def test_a_button_whose_action_raises_gets_the_generic_private_reply(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, no_error_logs: list[str]
) -> None:
    """A Reroll that fails unexpectedly is logged and answered privately, not left failing."""
    no_error_logs.append("component imagine:reroll:")
    result, job_id = await _delivered_result(stack)
    _break(stack, monkeypatch, "reroll")
    click = await stack.discord.click_button(result, f"imagine:reroll:{job_id}", stack.world.bob)
    await stack.wait_reply(click, str(GENERIC_FAILURE))
    reply = stack.discord.original_for(click)
    assert reply is not None and reply.ephemeral


async def test_a_remix_that_raises_gets_the_generic_private_reply(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, no_error_logs: list[str]
) -> None:
    """The Remix modal's submit goes through the same reply when the cog fails."""
    no_error_logs.append("modal_submit imagine:remix-modal:")
    result, job_id = await _delivered_result(stack)
    opened = await stack.discord.click_button(result, f"imagine:remix:{job_id}", stack.world.alice)
    await stack.discord.wait_for(lambda: opened.modal is not None)
    _break(stack, monkeypatch, "remix")
    submitted = await stack.discord.submit_modal(opened, values={"prompt": "a lighthouse, dusk"})
    await stack.wait_reply(submitted, str(GENERIC_FAILURE))
    reply = stack.discord.original_for(submitted)
    assert reply is not None and reply.ephemeral


async def test_a_button_for_a_vanished_job_says_so(stack: Stack) -> None:
    """A click on a job that no longer exists gets the cog's own words, privately."""
    result, job_id = await _delivered_result(stack)
    await stack.db.execute("DELETE FROM jobs WHERE id = $1", job_id)
    click = await stack.discord.click_button(result, f"imagine:reroll:{job_id}", stack.world.bob)
    await stack.wait_reply(click, "no longer exists")
