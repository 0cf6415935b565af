"""Edit and image prompts on the Discord side: attachments made references, the modal, the embed."""

from __future__ import annotations

from typing import Any
from unittest.mock import create_autospec

import discord
import pytest

from bot.i18n import chinese
from bot.jobs.models import Job, JobOptions, JobState
from bot.jobs.ports import Progress, ResultPart
from bot.jobs.references import Reference
from bot.kie import ImageSize, Resolution
from cogs.imagine._edit import EditModal, read_submission, reference_for, result_images
from cogs.imagine._embeds import progress_embed, result_embed
from cogs.imagine._views import result_view
from tests.cogs.helpers import fake_interaction

JOB_ID = "0123456789abcdef0123456789abcdef"
URL = "https://cdn.discordapp.com/attachments/1/2/{name}?ex=68c0ffee&is=68bfaa6e&hm=ab&"


def attachment(name: str, **fields: Any) -> discord.Attachment:
    item = create_autospec(discord.Attachment, instance=True, spec_set=True)
    item.filename = name
    item.url = URL.format(name=name)
    item.proxy_url = item.url.replace("cdn.discordapp.com", "media.discordapp.net")
    item.size = fields.get("size", 1234)
    item.content_type = fields.get("content_type", "image/jpeg")
    item.width, item.height = fields.get("width", 1024), fields.get("height", 768)
    return item


def message(*names: str) -> discord.Message:
    item = create_autospec(discord.Message, instance=True, spec_set=True)
    item.attachments = [attachment(n) for n in names]
    return item


def test_an_attachment_becomes_a_reference_as_discord_described_it() -> None:
    """Its own link, name, size, type and pixels; the option (and result image) it came as."""
    given = attachment("cat.png", size=99, content_type="image/png", width=64, height=48)
    ref = reference_for(given, "image2")
    assert ref == Reference(
        option="image2",
        url=given.url,
        filename="cat.png",
        size=99,
        content_type="image/png",
        width=64,
        height=48,
        proxy_url=given.proxy_url,
    )
    assert reference_for(given, "image", result_image=3).result_image == 3


def test_result_images_are_numbered_as_in_the_whole_result() -> None:
    """A part's files carry their image number; spoilers and odd names still count."""
    part = message("SPOILER_imagine_0123abcd_4.jpg", "imagine_0123abcd_5.webp", "x.png")
    assert list(result_images(part)) == [3, 4, 5]
    assert result_images(None) == {}


def test_the_modal_asks_which_image_only_when_there_are_several() -> None:
    """A prompt (the earlier one filled in), then a choice of the message's images."""
    several = EditModal(JOB_ID, "four foxes", [1, 2, 3, 4]).to_dict()
    assert several["custom_id"] == f"imagine:edit-modal:{JOB_ID}"
    prompt, choice = (row["component"] for row in several["components"])
    assert prompt["value"] == "four foxes" and prompt["max_length"] == 4000
    assert [(o["value"], o["default"]) for o in choice["options"]] == [
        ("1", True),
        ("2", False),
        ("3", False),
        ("4", False),
    ]
    assert len(EditModal(JOB_ID, "x" * 5000, [7]).to_dict()["components"]) == 1
    chinese_modal = EditModal(JOB_ID, "p", [1, 2], chinese()).to_dict()
    assert chinese_modal["title"] == "编辑"
    assert chinese_modal["components"][1]["component"]["options"][1]["label"] == "第 2 张图片"


def submission(custom_id: str, components: list[dict[str, Any]]) -> Any:
    interaction = fake_interaction()
    interaction.type = discord.InteractionType.modal_submit
    interaction.data = {"custom_id": custom_id, "components": components}
    return interaction


def test_a_submission_is_read_from_its_custom_id_and_inputs() -> None:
    """Labels (type 18) and old action rows (type 1) both; anything else is not Edit's."""
    label = [
        {"type": 18, "component": {"type": 4, "custom_id": "prompt", "value": "in the rain"}},
        {"type": 18, "component": {"type": 3, "custom_id": "image", "values": ["3"]}},
    ]
    read = read_submission(submission(f"imagine:edit-modal:{JOB_ID}", label))
    assert read is not None and (read.job_id, read.prompt, read.image) == (JOB_ID, "in the rain", 3)
    row = [{"type": 1, "components": [{"type": 4, "custom_id": "prompt", "value": "a"}]}]
    one = read_submission(submission(f"imagine:edit-modal:{JOB_ID}", row))
    assert one is not None and (one.prompt, one.image) == ("a", None)
    remix = read_submission(submission(f"imagine:remix-modal:{JOB_ID}", row))
    assert remix is not None and (remix.kind, remix.job_id) == ("remix", JOB_ID)
    assert read_submission(submission(f"imagine:other-modal:{JOB_ID}", row)) is None
    assert read_submission(fake_interaction()) is None  # a click, not a modal


@pytest.mark.parametrize("last_part", [True, False])
def test_every_result_message_has_edit(last_part: bool) -> None:
    """Edit works on the images of the message it is on: every part has it."""
    ids = [item.custom_id for item in result_view(JOB_ID, last_part=last_part).children]  # type: ignore[attr-defined]
    assert f"imagine:edit:{JOB_ID}" in ids
    assert (f"imagine:reroll:{JOB_ID}" in ids) is last_part


def edit_job(*refs: Reference) -> Job:
    return Job(
        id=JOB_ID,
        callback_token="t",
        guild_id=1,
        channel_id=2,
        user_id=3,
        state=JobState.DELIVERING,
        options=JobOptions("snowy", ImageSize.SQUARE_HD, Resolution.R1K, 1, references=refs),
        created_at=0.0,
        updated_at=0.0,
    )


def test_an_edit_result_says_so_and_links_its_references() -> None:
    """Title, one link per reference (a file name can't break the markdown), a preview."""
    refs = (
        reference_for(attachment("my_[cat].png"), "image"),
        reference_for(attachment("dog.jpg"), "image2"),
    )
    part = ResultPart(index=0, count=2, attachments=(), originals={})
    embed = result_embed(edit_job(*refs), part, took=None)
    assert embed.title == "Edited — part 1 of 2"
    fields = {f.name: f.value for f in embed.fields}
    links = fields["Reference images"]
    assert links.count("](https://cdn.discordapp.com/") == 2
    assert "[my\\_-cat-.png]" in links
    assert embed.thumbnail.url == refs[0].proxy_url
    assert progress_embed(edit_job(*refs), Progress()).title == "Editing…"
    one = result_embed(edit_job(refs[1]), ResultPart(0, 1, (), {}), took=None, lang=chinese())
    assert one.title == "编辑完成" and "参考图片" in {f.name for f in one.fields}
