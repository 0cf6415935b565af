"""Image prompts and Edit end to end: /imagine's `image`, `image2`, `image3` and the Edit button.

The real bot against the Discord stand-in (attachment options in `resolved.attachments`, a CDN
that serves them only through signed, expiring links) and the kie stand-in (the edit model:
it checks `image_urls` and fetches every URL when the task starts).
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.jobs.models import Job, JobState
from imagine_standins.discord import InteractionRecord, StoredMessage
from imagine_standins.discord.cdn import LINK_LIFETIME, Upload
from imagine_standins.kie import CREATE_TASK
from tests.e2e.stack import Stack, start_stack, stop_stack, text_of
from tests.images.pictures import encode, noise_image

EDIT_MODEL = "bytedance/seedream-v4-edit"


def picture(width: int, height: int, image_format: str = "PNG", *, seed: int = 1) -> bytes:
    """A real picture of that size and format."""
    return encode(noise_image(width, height, seed=seed), image_format)


def attachments_sent(interaction: InteractionRecord) -> dict[str, dict[str, Any]]:
    """Return the attachment options as Discord described them to the bot, by option name."""
    data = interaction.payload["data"]
    resolved = data.get("resolved", {}).get("attachments", {})
    return {o["name"]: resolved[o["value"]] for o in data["options"] if o["type"] == 11}


async def nothing_charged(stack: Stack) -> None:
    """No job, no reservation, no usage, no kie task."""
    for table in ("jobs", "quota_reservations", "quota_usage"):
        assert await stack.db.fetchval(f"SELECT COUNT(*) FROM {table}") == 0, table
    assert stack.kie.tasks_created() == []


async def delivered(stack: Stack, interaction: InteractionRecord) -> Job:
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    return job


async def test_one_reference_image_runs_the_edit_model(stack: Stack) -> None:
    """The attachment's own URL goes to kie as image_urls, with every other input unchanged."""
    upload = Upload("cat.png", picture(96, 64))
    interaction = await stack.imagine(
        prompt="the cat in the snow", image=upload, size="landscape_4_3", seed=11
    )
    job = await delivered(stack, interaction)
    sent = attachments_sent(interaction)["image"]
    [task] = stack.kie.tasks_created()
    assert task.body["model"] == EDIT_MODEL
    assert task.input["image_urls"] == [sent["url"]]
    assert task.input["prompt"] == "the cat in the snow"
    assert (task.input["image_size"], task.input["image_resolution"]) == ("landscape_4_3", "1K")
    assert (task.input["max_images"], task.input["seed"], task.input["nsfw_checker"]) == (
        1,
        11,
        True,
    )
    [fetched] = task.fetched
    assert fetched.ok and fetched.status == 200 and fetched.format == "PNG"
    [kept] = job.options.references
    assert (kept.option, kept.url, kept.filename) == ("image", sent["url"], "cat.png")
    assert (kept.width, kept.height, kept.content_type) == (96, 64, "image/png")
    assert job.credits_consumed == 5 and job.images_delivered == 1
    [result] = stack.results_for(job)
    [embed] = result.embeds
    assert embed["title"] == "Edited"
    assert "Reference image" in text_of(result) and "cat.png" in text_of(result)
    assert embed["thumbnail"]["url"] == sent["proxy_url"]


async def test_three_reference_images_reach_kie_in_option_order(stack: Stack) -> None:
    """image, image2 and image3 (a JPEG, a PNG and a WebP) go to kie in that order."""
    uploads = {
        "image": Upload("a.jpg", picture(80, 80, "JPEG", seed=1)),
        "image2": Upload("b.png", picture(60, 90, "PNG", seed=2)),
        "image3": Upload("c.webp", picture(120, 40, "WEBP", seed=3)),
    }
    interaction = await stack.imagine(prompt="all three together", images=2, **uploads)
    job = await delivered(stack, interaction)
    sent = attachments_sent(interaction)
    [task] = stack.kie.tasks_created()
    assert task.input["image_urls"] == [sent[name]["url"] for name in ("image", "image2", "image3")]
    assert [f.format for f in task.fetched] == ["JPEG", "PNG", "WEBP"]
    assert [r.option for r in job.options.references] == ["image", "image2", "image3"]
    assert job.images_delivered == 2
    shown = text_of(stack.results_for(job)[-1])
    assert "Reference images" in shown and all(n in shown for n in ("a.jpg", "b.png", "c.webp"))


def _gif() -> bytes:
    out = io.BytesIO()
    noise_image(40, 40, seed=5).save(out, "GIF")
    return out.getvalue()


def _huge_png() -> bytes:
    # A real PNG header (so Discord reads its pixels) padded past kie's 10 MB.
    return picture(64, 64) + b"\0" * 10_500_000


@pytest.mark.parametrize(
    ("option", "upload", "words"),
    [
        ("image", Upload("anim.gif", _gif()), "`image` is `image/gif`, not a JPEG, PNG or WebP"),
        ("image2", Upload("notes.txt", b"just text"), "`image2` is `text/plain`"),
        # Named (and so typed by Discord) as a PNG, but its bytes are a GIF.
        ("image3", Upload("photo.png", _gif()), "`image3` is really a GIF image"),
        ("image", Upload("huge.png", _huge_png()), "`image` is 10.5 MB; kie.ai takes images of"),
        ("image2", Upload("tiny.png", picture(10, 12)), "`image2` is only 10×12 pixels"),
    ],
    ids=["gif", "text", "lying-name", "over-10-mb", "too-small"],
)
async def test_bad_reference_images_are_refused_before_anything_is_charged(
    stack: Stack, option: str, upload: Upload, words: str
) -> None:
    """Each refusal is private, names the option, and leaves no job, quota or kie task."""
    good = {"image": Upload("ok.png", picture(64, 64))} if option != "image" else {}
    interaction = await stack.imagine(prompt="start from this", **good, **{option: upload})
    text = await stack.wait_reply(interaction, words)
    assert stack.discord.original_for(interaction).ephemeral  # type: ignore[union-attr]
    assert "Traceback" not in text
    await nothing_charged(stack)


def edit_button(message: StoredMessage, job: Job) -> str:
    custom_id = f"imagine:edit:{job.id}"
    assert custom_id in message.custom_ids, message.custom_ids
    return custom_id


async def open_edit(
    stack: Stack, message: StoredMessage, job: Job, member: Any
) -> InteractionRecord:
    opened = await stack.discord.click_button(message, edit_button(message, job), member)
    await stack.discord.wait_for(lambda: opened.modal is not None)
    return opened


async def test_edit_on_a_four_image_result_starts_from_the_picked_image(stack: Stack) -> None:
    """Edit asks for a prompt (prefilled) and which image; the clicker's new job edits it."""
    interaction = await stack.imagine(prompt="four foxes", images=4, seed=3)
    job = await delivered(stack, interaction)
    [message] = stack.results_for(job)
    assert len(message.attachments) == 4

    opened = await open_edit(stack, message, job, stack.world.bob)
    modal = opened.modal
    assert modal is not None and modal["title"] == "Edit"
    prompt_input, image_select = (row["component"] for row in modal["components"])
    assert prompt_input["value"] == "four foxes"
    assert [o["value"] for o in image_select["options"]] == ["1", "2", "3", "4"]

    submitted = await stack.discord.submit_modal(
        opened,
        values={"prompt": "the third fox, in the rain", "image": ["3"]},  # type: ignore[dict-item]
        member=stack.world.bob,
    )
    edited = await delivered(stack, submitted)
    assert edited.user_id == stack.world.bob.id  # charged to whoever clicked
    assert edited.parent_job_id == job.id
    assert edited.options.prompt == "the third fox, in the rain"
    assert (edited.options.images, edited.options.seed) == (4, 3)
    [reference] = edited.options.references
    third = next(a for a in message.attachments if a.filename.endswith("_3.jpg"))
    assert reference.result_image == 3 and reference.filename == third.filename
    # The link Discord signed for the clicked message, to that very file.
    assert urlsplit(reference.url).path == urlsplit(third.url).path
    first, second = stack.kie.tasks_created()
    assert first.body["model"] != EDIT_MODEL and second.body["model"] == EDIT_MODEL
    assert second.input["image_urls"] == [reference.url]
    assert [f.ok for f in second.fetched] == [True]
    [edited_result] = stack.results_for(edited)
    assert edited_result.embeds[0]["title"] == "Edited"
    assert f"imagine:edit:{edited.id}" in edited_result.custom_ids


async def test_an_edit_modal_opened_before_a_restart_still_works(stack: Stack) -> None:
    """The modal is answered by its custom_id, not by the process that opened it."""
    interaction = await stack.imagine(prompt="a lighthouse")
    job = await delivered(stack, interaction)
    [message] = stack.results_for(job)
    opened = await open_edit(stack, message, job, stack.world.carol)
    assert len(opened.modal["components"]) == 1  # type: ignore[index]  # one image: no choice
    await stop_stack(stack)
    restarted = await start_stack(stack.discord, stack.kie, stack.db)
    try:
        submitted = await restarted.discord.submit_modal(
            opened, values={"prompt": "a lighthouse in a storm"}, member=restarted.world.carol
        )
        edited = await delivered(restarted, submitted)
        assert edited.options.references[0].result_image == 1
        assert edited.user_id == restarted.world.carol.id
    finally:
        await stop_stack(restarted)


async def test_reroll_of_an_edit_job_sends_the_same_pictures_until_their_links_die(
    stack: Stack,
) -> None:
    """A Reroll reuses the stored references; once Discord's link died it is refused, clearly."""
    interaction = await stack.imagine(
        prompt="my dog as a knight", image=Upload("dog.png", picture(64, 64))
    )
    job = await delivered(stack, interaction)
    [result] = stack.results_for(job)
    reroll = await stack.discord.click_button(result, f"imagine:reroll:{job.id}", stack.world.bob)
    again = await delivered(stack, reroll)
    assert again.options.references == job.options.references
    first, second = stack.kie.tasks_created()
    assert second.input["image_urls"] == first.input["image_urls"]
    assert second.input["seed"] != first.input["seed"]

    stack.discord.advance_time(LINK_LIFETIME + 60)  # Discord's link to dog.png has expired
    late = await stack.discord.click_button(result, f"imagine:reroll:{job.id}", stack.world.bob)
    text = await stack.wait_reply(late, "can no longer be fetched")
    assert "`image`" in text and "attach the image again with /imagine" in text
    assert len(stack.kie.tasks_created()) == 2


async def test_a_reference_kie_cannot_fetch_fails_the_job_with_a_clear_message(
    stack: Stack,
) -> None:
    """The file is gone when kie's task starts: refunded, and the member reads which and why."""
    interaction_holder: dict[str, InteractionRecord] = {}

    def take_the_file_away(request: Any) -> None:
        sent = attachments_sent(interaction_holder["imagine"])
        stack.discord.cdn.forget(int(sent["image2"]["id"]))

    stack.kie.on_request(CREATE_TASK, when="before", action=take_the_file_away)
    uploads = {
        "image": Upload("a.png", picture(64, 64)),
        "image2": Upload("b.png", picture(64, 64)),
    }
    interaction_holder["imagine"] = interaction = await stack.discord.send_slash_command(
        stack.world.alice, "imagine", {"prompt": "both of them", **uploads}
    )
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.FAILED and job.fail_code == "reference-unreachable"
    [task] = stack.kie.tasks_created()
    assert [f.ok for f in task.fetched] == [True, False]
    assert task.fetched[1].status == 404
    text = await stack.wait_reply(interaction, "could not fetch")
    assert "kie.ai could not fetch `image2`" in text and "Nothing was charged" in text
    assert "422" not in text and "refused the prompt" not in text
    assert job.credits_consumed == 0
    reservation = await stack.db.fetchrow(
        "SELECT state, charged FROM quota_reservations WHERE job_id = $1", job.id
    )
    assert reservation is None or (reservation["state"], reservation["charged"]) == ("refunded", 0)
