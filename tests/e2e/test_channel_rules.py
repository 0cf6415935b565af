"""/imagine obeys what admins set: channel on/off, allowlist, defaults, caps, blocklist,
safety, and quotas settled to what was delivered and refunded when nothing was."""

from __future__ import annotations

import time

import pytest

from bot.jobs.models import JobState
from imagine_standins.kie import Durations
from tests.e2e.stack import Stack


def admin(stack: Stack) -> dict[str, float | int]:
    """Keyword arguments for control-layer writes made by the test server's admin."""
    return {"actor_id": stack.world.admin.id, "now": time.time()}


async def _refused(stack: Stack, needle: str, **options: object) -> None:
    interaction = await stack.imagine(**options)
    await stack.wait_reply(interaction, needle)
    assert stack.discord.original_for(interaction).ephemeral  # type: ignore[union-attr]


async def test_disabled_channel_refuses_and_charges_nothing(stack: Stack) -> None:
    """A disabled channel refuses /imagine privately; no job, no kie call."""
    w = stack.world
    await stack.bot.control.channels.disable(w.guild_id, w.channel.id, **admin(stack))
    await _refused(stack, "turned off")
    assert await stack.db.fetchval("SELECT COUNT(*) FROM jobs") == 0
    assert stack.kie.tasks_created() == []


async def test_allowlist_mode_needs_the_channel_enabled(stack: Stack) -> None:
    """In allowlist mode only enabled channels work."""
    w = stack.world
    await stack.bot.control.channels.set_mode(w.guild_id, "allowlist", **admin(stack))
    await _refused(stack, "isn't enabled")
    await stack.bot.control.channels.enable(w.guild_id, w.channel.id, **admin(stack))
    interaction = await stack.imagine()
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED


async def test_channel_defaults_fill_what_the_member_left_out(stack: Stack) -> None:
    """Size, resolution and count come from the channel when not given."""
    w = stack.world
    await stack.bot.control.channels.set(
        w.guild_id,
        w.channel.id,
        image_size="portrait_16_9",
        resolution="2K",
        images=2,
        **admin(stack),
    )
    interaction = await stack.imagine()
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [task] = stack.kie.tasks_created()
    assert (task.input["image_size"], task.input["image_resolution"]) == ("portrait_16_9", "2K")
    assert task.input["max_images"] == 2
    assert job.images_delivered == 2


@pytest.mark.parametrize(
    ("options", "needle"),
    [({"images": 3}, "at most 2 images"), ({"resolution": "4K"}, "up to 2K")],
)
async def test_caps_refuse_naming_the_cap(stack: Stack, options: dict, needle: str) -> None:
    """A request over the channel's cap is refused with the cap named (never clamped)."""
    w = stack.world
    await stack.bot.control.channels.set(
        w.guild_id, w.channel.id, max_images=2, max_resolution="2K", **admin(stack)
    )
    await _refused(stack, needle, **options)
    assert stack.kie.tasks_created() == []


async def test_blocklisted_prompt_is_refused_before_any_charge(stack: Stack) -> None:
    """A prompt with a blocked word is refused; nothing is reserved or sent."""
    w = stack.world
    await stack.bot.control.blocklist.add(w.guild_id, "gore", **admin(stack))
    await stack.bot.control.quotas.set_limit(w.guild_id, "default", None, 5, "day", **admin(stack))
    await _refused(stack, "blocked word", prompt="lots of GORE please")
    figures = await stack.bot.control.quotas.status(
        w.guild_id, w.channel.id, w.alice.id, [], time.time()
    )
    assert [f.used for f in figures] == [0]
    assert stack.kie.tasks_created() == []


async def test_safety_off_in_an_age_restricted_channel_posts_spoilers(stack: Stack) -> None:
    """Safety off (NSFW channels only) turns kie's filter off and posts spoilers."""
    w = stack.world
    await stack.bot.control.channels.set(
        w.guild_id, w.nsfw_channel.id, safety=False, channel_is_nsfw=True, **admin(stack)
    )
    interaction = await stack.imagine(channel=w.nsfw_channel)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [task] = stack.kie.tasks_created()
    assert task.input["nsfw_checker"] is False
    [result] = stack.results_for(job)
    assert all(a.filename.startswith("SPOILER_") for a in result.attachments)


async def _used(stack: Stack) -> int:
    w = stack.world
    figures = await stack.bot.control.quotas.status(
        w.guild_id, w.channel.id, w.alice.id, [], time.time()
    )
    return figures[0].used


async def test_quota_settles_to_delivered_and_refunds_failures_and_cancels(stack: Stack) -> None:
    """Fewer images than asked are charged as delivered; a failed or cancelled job is refunded."""
    w = stack.world
    await stack.bot.control.quotas.set_limit(w.guild_id, "default", None, 20, "day", **admin(stack))
    stack.kie.returned_images = 1
    interaction = await stack.imagine(images=3)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.images_delivered == 1
    assert await _used(stack) == 1

    stack.kie.returned_images = None
    stack.kie.force_fail("500", "Internal server error")
    failed = await stack.wait_job((await stack.job_for(await stack.imagine(images=4))).id)
    assert failed.state is JobState.FAILED
    assert await _used(stack) == 1

    stack.kie.durations = Durations(0.1, 0.1, 30.0)
    cancel = await stack.imagine(images=5)
    job = await stack.wait_job((await stack.job_for(cancel)).id, lambda j: j.task_id is not None)
    assert await _used(stack) == 6
    await stack.bot.admission.cancel(job.id, w.alice.id)
    assert await _used(stack) == 1
