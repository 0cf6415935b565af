"""Pictures to start from, on the Discord side: attachments made into references, and Edit.

/imagine's `image`, `image2` and `image3` options and the result image an Edit picks are
Discord attachments; `reference_for` describes one for admission (bot/jobs/references.py
decides whether kie can take it). Edit's modal asks for a new prompt and, when the clicked
message shows several images, which one. The modal is answered by its custom_id (which names
the job), not by the Modal object that opened it: `EditModal.open` (and the Remix modal's,
cogs/imagine/_views.py) stops listening at once and the cog hands every submission to
`read_submission`, so a modal opened before a restart still works when it is submitted after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord

from bot.i18n import ENGLISH, Lang, _
from bot.jobs.references import Reference
from cogs.imagine._views import MODAL_PROMPT_MAX

__all__ = [
    "JOB_MODAL",
    "EditModal",
    "ModalSubmission",
    "read_submission",
    "reference_for",
    "result_images",
]

JOB_MODAL = re.compile(r"imagine:(?P<kind>edit|remix)-modal:(?P<job>[0-9a-f]{32})")
PROMPT_INPUT, IMAGE_INPUT = "prompt", "image"
# Result files are named "[SPOILER_]<stem>_<n>.<ext>", n the image's 1-based place in the
# result (bot/images/attachments.py names them so).
_RESULT_FILE = re.compile(r"_(?P<n>\d+)\.(?:jpe?g|png|webp)$", re.IGNORECASE)


def reference_for(
    attachment: discord.Attachment, option: str, *, result_image: int | None = None
) -> Reference:
    """Describe an attachment as Discord did: its own link, name, size, type and pixels."""
    return Reference(
        option=option,
        url=attachment.url,
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
        width=attachment.width,
        height=attachment.height,
        proxy_url=attachment.proxy_url,
        result_image=result_image,
    )


def result_images(message: discord.Message | None) -> dict[int, discord.Attachment]:
    """Return a result message's images by their number in the whole result."""
    found: dict[int, discord.Attachment] = {}
    for place, attachment in enumerate(message.attachments if message else (), start=1):
        match = _RESULT_FILE.search(attachment.filename)
        found.setdefault(int(match["n"]) if match else place, attachment)
    return dict(sorted(found.items()))


class EditModal(discord.ui.Modal):
    """A new prompt (the earlier one filled in) and, for several images, which one."""

    def __init__(self, job_id: str, prompt: str, numbers: list[int], lang: Lang = ENGLISH) -> None:
        super().__init__(
            title=lang(_("Edit")), custom_id=f"imagine:edit-modal:{job_id}", timeout=None
        )
        text: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id=PROMPT_INPUT,
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=MODAL_PROMPT_MAX,
            default=prompt[:MODAL_PROMPT_MAX],
        )
        self.add_item(discord.ui.Label(text=lang(_("Prompt")), component=text))
        if len(numbers) > 1:
            options = [
                discord.SelectOption(
                    label=lang(_("Image {n}", n=n)), value=str(n), default=place == 0
                )
                for place, n in enumerate(numbers[:25])
            ]
            select: discord.ui.Select[Any] = discord.ui.Select(
                custom_id=IMAGE_INPUT, options=options, min_values=1, max_values=1
            )
            self.add_item(discord.ui.Label(text=lang(_("Image to start from")), component=select))

    async def open(self, interaction: discord.Interaction[Any]) -> None:
        """Show the modal; its submission is read from its custom_id, not by this object."""
        await interaction.response.send_modal(self)
        self.stop()


@dataclass(frozen=True, slots=True)
class ModalSubmission:
    """What the member typed (and, in Edit, picked) in the Edit or Remix modal."""

    kind: str  # "edit" or "remix"
    job_id: str
    prompt: str
    image: int | None  # None: the message had one image, so nothing was asked


def read_submission(interaction: discord.Interaction[Any]) -> ModalSubmission | None:
    """Return the Edit or Remix modal's values, or None for any other interaction."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return None
    data: dict[str, Any] = dict(interaction.data or {})
    match = JOB_MODAL.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return None
    values: dict[str, Any] = {}
    for row in data.get("components") or []:
        # An input comes in a label (type 18), or in an action row (type 1) the old way.
        for component in [*(row.get("components") or []), row.get("component") or {}]:
            if "custom_id" in component:
                values[component["custom_id"]] = component.get("value", component.get("values"))
    picked = values.get(IMAGE_INPUT) or []
    return ModalSubmission(
        kind=match["kind"],
        job_id=match["job"],
        prompt=str(values.get(PROMPT_INPUT) or ""),
        image=int(picked[0]) if picked and str(picked[0]).isdigit() else None,
    )
