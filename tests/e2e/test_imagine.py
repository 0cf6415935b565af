"""/imagine end to end: the real bot against the Discord and kie stand-ins."""

from __future__ import annotations

import pytest

from bot.errors import UserFacingError
from bot.jobs.models import JobState
from imagine_standins.kie import Durations
from tests.e2e.stack import Stack, start_stack, stop_stack, text_of


async def test_one_image_happy_path(stack: Stack) -> None:
    """A prompt becomes a kie task and one image posted publicly, pinging only the requester."""
    interaction = await stack.imagine(prompt="a red fox in the snow")
    assert interaction.response_type == 5  # deferred, within the 3 s window
    job = await stack.job_for(interaction)
    job = await stack.wait_job(job.id)
    assert job.state is JobState.DELIVERED, job.fail_message
    assert job.images_delivered == 1
    results = stack.results_for(job)
    assert len(results) == 1
    message = results[0]
    assert len(message.attachments) == 1
    assert message.pinged_user_ids == {stack.world.alice.id}
    [task] = stack.kie.tasks_created()
    assert task.input["prompt"] == "a red fox in the snow"
    assert task.input["image_size"] == "square_hd"
    assert task.input["image_resolution"] == "1K"
    assert task.input["max_images"] == 1


async def test_six_images_and_every_option_reach_kie_unchanged(stack: Stack) -> None:
    """size, resolution, images and seed reach createTask as given; six images come back."""
    interaction = await stack.imagine(
        prompt="a lighthouse at dusk",
        size="landscape_21_9",
        resolution="2K",
        images=6,
        seed=-88165251,
    )
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    [task] = stack.kie.tasks_created()
    assert task.input["image_size"] == "landscape_21_9"
    assert task.input["image_resolution"] == "2K"
    assert task.input["max_images"] == 6
    assert task.input["seed"] == -88165251
    assert task.input["nsfw_checker"] is True
    # kie is told the count; the member's own prompt is what we store and show.
    assert task.input["prompt"] == "a lighthouse at dusk. Generate 6 separate images."
    assert job.options.prompt == "a lighthouse at dusk"
    results = stack.results_for(job)
    assert sum(len(m.attachments) for m in results) == 6
    assert job.images_delivered == 6
    shown = text_of(results[-1])
    assert "a lighthouse at dusk" in shown and "Generate 6" not in shown
    assert "-88165251" in shown and "Landscape 21:9" in shown and "2K" in shown


async def test_blank_prompt_is_refused_privately_and_charges_nothing(stack: Stack) -> None:
    """A prompt of spaces gets an ephemeral message naming `prompt`; no job, no kie call."""
    interaction = await stack.imagine(prompt="   ")
    text = await stack.wait_reply(interaction, "prompt")
    assert "`prompt`" in text
    assert stack.discord.original_for(interaction).ephemeral  # type: ignore[union-attr]
    assert await stack.db.fetchval("SELECT COUNT(*) FROM jobs") == 0
    assert stack.kie.tasks_created() == []


@pytest.mark.parametrize(
    ("code", "times", "needle"),
    [
        (401, 1, "API key"),
        (402, 1, "balance is empty"),
        (408, 1, "stalled"),
        (422, 1, "refused the request"),
        (433, 1, "usage cap"),
        # A 500 does not prove that no task was made: never resent, and without callbacks
        # nothing can reconcile it.
        (500, 1, "did not confirm"),
        (501, 1, "could not generate"),
        (505, 1, "switched this model off"),
    ],
)
async def test_every_kie_error_has_a_clear_message(
    stack: Stack, code: int, times: int, needle: str
) -> None:
    """Each kie error code on createTask ends the job with its own sentence, no traceback."""
    stack.kie.force_error("createTask", code, times=times)
    interaction = await stack.imagine()
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.FAILED
    text = await stack.wait_reply(interaction, needle)
    assert "Traceback" not in text
    assert stack.kie.tasks_created() == []


@pytest.mark.parametrize(("code", "needle"), [(429, "busy"), (455, "busy")])
async def test_kie_saying_not_now_keeps_the_job_waiting(
    stack: Stack, code: int, needle: str
) -> None:
    """429 and 455 on createTask: the member sees the wait, then gets the images; one task."""
    stack.kie.force_error("createTask", code, times=2, retry_after=1.0)
    interaction = await stack.imagine()
    await stack.wait_reply(interaction, needle)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    assert len(stack.kie.tasks_created()) == 1


async def test_prohibited_prompt_is_reported_as_a_content_refusal(stack: Stack) -> None:
    """A task kie fails for prohibited content says so, and refunds."""
    stack.kie.force_fail("422", "Invalid prompt: prompt contains prohibited content")
    interaction = await stack.imagine()
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.FAILED
    await stack.wait_reply(interaction, "content filter")


async def test_cancel_by_requester_and_not_by_others(stack: Stack) -> None:
    """Only the requester's Cancel works; the job ends cancelled and posts nothing."""
    stack.kie.durations = Durations(0.1, 0.1, 30.0)
    interaction = await stack.imagine()
    job = await stack.job_for(interaction)
    progress = await stack.discord.wait_for(
        lambda: (m := stack.discord.original_for(interaction)) and m.components and m
    )
    custom_id = f"imagine:cancel:{job.id}"
    # The progress message is ephemeral: Discord shows (and lets click) it only to alice.
    assert progress.ephemeral
    with pytest.raises(ValueError, match="only the invoking member"):
        await stack.discord.click_button(progress, custom_id, stack.world.bob)
    with pytest.raises(UserFacingError, match="Only the member"):
        await stack.bot.admission.cancel(job.id, stack.world.bob.id)
    await stack.discord.click_button(progress, custom_id, stack.world.alice)
    job = await stack.wait_job(job.id)
    assert job.state is JobState.CANCELLED
    await stack.wait_reply(interaction, "Cancelled")
    assert stack.results_for(job) == []


async def test_reroll_remix_and_delete(stack: Stack) -> None:
    """Reroll keeps the options with a new seed; Remix takes an edited prompt; Delete is guarded."""
    interaction = await stack.imagine(prompt="a castle", size="portrait_16_9", seed=7)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [result] = stack.results_for(job)

    reroll = await stack.discord.click_button(result, f"imagine:reroll:{job.id}", stack.world.bob)
    rerolled = await stack.wait_job((await stack.job_for(reroll)).id)
    assert rerolled.state is JobState.DELIVERED
    assert rerolled.user_id == stack.world.bob.id
    assert rerolled.parent_job_id == job.id
    assert rerolled.options.size == job.options.size
    assert rerolled.options.seed != 7

    opened = await stack.discord.click_button(result, f"imagine:remix:{job.id}", stack.world.alice)
    await stack.discord.wait_for(lambda: opened.modal is not None)
    assert opened.modal["components"][0]["component"]["value"] == "a castle"  # type: ignore[index]
    submitted = await stack.discord.submit_modal(opened, values={"prompt": "a castle in fog"})
    remixed = await stack.wait_job((await stack.job_for(submitted)).id)
    assert remixed.options.prompt == "a castle in fog"
    assert remixed.options.seed == 7

    refused = await stack.discord.click_button(result, f"imagine:delete:{job.id}", stack.world.bob)
    await stack.wait_reply(refused, "Only the member")
    assert not result.deleted
    await stack.discord.click_button(result, f"imagine:delete:{job.id}", stack.world.moderator)
    await stack.discord.wait_for(lambda: result.deleted)
    [own] = stack.results_for(rerolled)
    await stack.discord.click_button(own, f"imagine:delete:{rerolled.id}", stack.world.bob)
    await stack.discord.wait_for(lambda: own.deleted)


async def test_a_remix_modal_opened_before_a_restart_still_works(stack: Stack) -> None:
    """The Remix modal is answered by its custom_id, not by the process that opened it."""
    interaction = await stack.imagine(prompt="a castle", seed=7)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [result] = stack.results_for(job)
    opened = await stack.discord.click_button(result, f"imagine:remix:{job.id}", stack.world.bob)
    await stack.discord.wait_for(lambda: opened.modal is not None)
    await stop_stack(stack)
    restarted = await start_stack(stack.discord, stack.kie, stack.db)
    try:
        submitted = await restarted.discord.submit_modal(
            opened, values={"prompt": "a castle at night"}, member=restarted.world.bob
        )
        remixed = await restarted.wait_job((await restarted.job_for(submitted)).id)
        assert remixed.state is JobState.DELIVERED
        assert (remixed.options.prompt, remixed.options.seed) == ("a castle at night", 7)
        assert (remixed.user_id, remixed.parent_job_id) == (restarted.world.bob.id, job.id)
    finally:
        await stop_stack(restarted)


async def test_mentions_in_the_prompt_ping_nobody(stack: Stack) -> None:
    """@everyone and a role mention echoed from the prompt notify no one but the requester."""
    role = stack.world.artists_role.id
    interaction = await stack.imagine(prompt=f"@everyone look <@&{role}> <@{stack.world.bob.id}>")
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [result] = stack.results_for(job)
    assert result.pinged_user_ids == {stack.world.alice.id}
    assert not result.mention_everyone
    assert result.mention_role_ids == []


async def test_cancelled_task_cost_is_still_recorded(stack: Stack) -> None:
    """kie bills a task that runs on after a cancel: its credits still reach the job row."""
    stack.kie.durations = Durations(0.1, 0.1, 30.0)
    interaction = await stack.imagine(images=2)
    job = await stack.wait_job(
        (await stack.job_for(interaction)).id, lambda j: j.task_id is not None
    )
    await stack.bot.admission.cancel(job.id, stack.world.alice.id)
    assert job.task_id is not None
    stack.kie.finish_now(job.task_id)
    job = await stack.wait_job(job.id, lambda j: j.credits_consumed is not None)
    assert job.state is JobState.CANCELLED
    assert job.credits_consumed == 10
    assert stack.results_for(job) == []


async def test_a_seed_is_always_shown_and_reaches_kie(stack: Stack) -> None:
    """Without a seed option the bot picks one, sends it, and shows it for reuse."""
    interaction = await stack.imagine(prompt="a quiet harbour")
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [task] = stack.kie.tasks_created()
    assert isinstance(task.input["seed"], int)
    assert task.input["seed"] == job.options.seed
    [result] = stack.results_for(job)
    assert f"Seed {job.options.seed}" in text_of(result)


async def test_buttons_work_after_a_restart(stack: Stack) -> None:
    """A result posted before a restart still answers its Reroll button afterwards."""
    interaction = await stack.imagine(prompt="a windmill")
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [result] = stack.results_for(job)
    await stop_stack(stack)
    restarted = await start_stack(stack.discord, stack.kie, stack.db)
    try:
        click = await restarted.discord.click_button(
            result, f"imagine:reroll:{job.id}", restarted.world.carol
        )
        again = await restarted.wait_job((await restarted.job_for(click)).id)
        assert again.state is JobState.DELIVERED
        assert again.parent_job_id == job.id
    finally:
        await stop_stack(restarted)
