"""The transcript shows exactly what the bot sent to the Discord stand-in, and escapes it."""

from __future__ import annotations

import base64
import re

from bot.demo.snapshot import take_snapshot
from bot.demo.transcript import render_transcript
from bot.jobs.models import JobState
from tests.e2e.conftest import kie, no_error_logs, sqlite_db, stack  # noqa: F401 - fixtures
from tests.e2e.stack import Stack
from tests.standins.discord.fixtures import fake_discord  # noqa: F401 - fixture


async def test_every_stored_message_and_file_is_shown_in_order(stack: Stack) -> None:  # noqa: F811
    """The page lists the channel's stored messages in order, each file's exact bytes inline."""
    interaction = await stack.imagine(prompt="a <b>bold</b> fox & friends", images=2)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED
    await stack.wait_reply(interaction, "Done")
    html = render_transcript(await take_snapshot(stack.discord))
    stored = stack.discord.messages_in(stack.world.channel)
    assert re.findall(r'data-message-id="(\d+)"', html) == [str(m.id) for m in stored]
    files = [a.data for m in stored for a in m.attachments]
    assert len(files) == 2
    for data in files:
        assert f"base64,{base64.b64encode(data).decode()}" in html
    # The member's words are text, never markup.
    assert "<b>bold</b>" not in html
    assert "a &lt;b&gt;bold&lt;/b&gt; fox &amp; friends" in html
    assert '<span class="mention">@Alice</span>' in html
