"""/imagine end to end: the real bot against the Discord and kie stand-ins."""

from __future__ import annotations

from bot.jobs.models import JobState
from tests.e2e.conftest import Stack


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
