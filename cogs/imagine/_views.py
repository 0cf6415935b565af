"""Buttons and the remix modal. Buttons are DynamicItems: their custom_id carries the job id,
so they keep working after a restart without any view being re-registered per message.
(Edit's modal is in `_edit.py`.)

The buttons don't import the cog: they find whatever the bot loaded as "Imagine" and call it
through `JobActions`. Any error they meet is answered by bot.tree.reply_to_error, the same
reply slash commands get, so a click never ends in Discord's "This interaction failed".
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import discord

from bot.errors import UserFacingError
from bot.i18n import ENGLISH, Lang, Text, _
from bot.tree import reply_to_error

__all__ = [
    "DYNAMIC_ITEMS",
    "CancelButton",
    "DeleteButton",
    "EditButton",
    "JobActions",
    "RemixButton",
    "RemixModal",
    "RerollButton",
    "job_actions",
    "progress_view",
    "result_view",
]

_JOB = r"(?P<job>[0-9a-f]{32})"
# Discord caps a text input's value at 4000 characters.
MODAL_PROMPT_MAX = 4000


@runtime_checkable
class JobActions(Protocol):
    """What the buttons and the modal ask of the Imagine cog, by job id."""

    async def cancel(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Cancel a job (its requester only)."""

    async def reroll(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Run the same request again with a new seed."""

    async def open_remix(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Open the remix modal with the earlier prompt filled in."""

    async def remix(self, interaction: discord.Interaction[Any], job_id: str, prompt: str) -> None:
        """Run an earlier request again with an edited prompt."""

    async def open_edit(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Open the Edit modal: a new prompt and which of the message's images to start from."""

    async def edit(
        self, interaction: discord.Interaction[Any], job_id: str, prompt: str, image: int | None
    ) -> None:
        """Run the edit model on a result image (`image`: its number; None: the only one)."""

    async def delete(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Delete a result message."""


def job_actions(interaction: discord.Interaction[Any]) -> JobActions:
    """Return the loaded Imagine cog, or refuse politely while it is not loaded."""
    cog = interaction.client.get_cog("Imagine")
    if not isinstance(cog, JobActions):
        raise UserFacingError(_("Image generation is not available right now."))
    return cog


class _JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"imagine:x:" + _JOB):
    action = "x"
    label: Text
    style = discord.ButtonStyle.secondary
    emoji: str | None = None

    def __init__(self, job_id: str, lang: Lang = ENGLISH) -> None:
        # The label is in the language of whoever the message speaks to; a click is matched
        # by custom_id alone, so a button rebuilt from one (from_custom_id) needs no label.
        super().__init__(
            discord.ui.Button(
                label=lang(self.label),
                style=self.style,
                emoji=self.emoji,
                custom_id=f"imagine:{self.action}:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> _JobButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.run(interaction)
        except Exception as exc:  # noqa: BLE001 - every failure gets the tree's reply
            await reply_to_error(interaction, exc)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError


class CancelButton(_JobButton, template=r"imagine:cancel:" + _JOB):
    action, label, style = "cancel", _("Cancel"), discord.ButtonStyle.danger

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await job_actions(interaction).cancel(interaction, self.job_id)


class RerollButton(_JobButton, template=r"imagine:reroll:" + _JOB):
    action, label, style, emoji = "reroll", _("Reroll"), discord.ButtonStyle.primary, "🎲"

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await job_actions(interaction).reroll(interaction, self.job_id)


class RemixButton(_JobButton, template=r"imagine:remix:" + _JOB):
    action, label, style, emoji = "remix", _("Remix"), discord.ButtonStyle.secondary, "✏️"

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await job_actions(interaction).open_remix(interaction, self.job_id)


class EditButton(_JobButton, template=r"imagine:edit:" + _JOB):
    action, label, style, emoji = "edit", _("Edit"), discord.ButtonStyle.secondary, "🖌️"

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await job_actions(interaction).open_edit(interaction, self.job_id)


class DeleteButton(_JobButton, template=r"imagine:delete:" + _JOB):
    action, label, style, emoji = "delete", _("Delete"), discord.ButtonStyle.secondary, "🗑️"

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await job_actions(interaction).delete(interaction, self.job_id)


class RemixModal(discord.ui.Modal):
    """Edit the prompt of an earlier job and generate again."""

    def __init__(self, job_id: str, prompt: str, lang: Lang = ENGLISH) -> None:
        super().__init__(
            title=lang(_("Remix")), custom_id=f"imagine:remix-modal:{job_id}", timeout=None
        )
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=MODAL_PROMPT_MAX,
            default=prompt[:MODAL_PROMPT_MAX],
        )
        self.add_item(discord.ui.Label(text=lang(_("Prompt")), component=self.prompt))

    async def open(self, interaction: discord.Interaction[Any]) -> None:
        """Show the modal; its submission is read from its custom_id (cogs/imagine/_edit.py),
        not by this object, so one opened before a restart still works."""
        await interaction.response.send_modal(self)
        self.stop()


def progress_view(job_id: str, lang: Lang = ENGLISH) -> discord.ui.View:
    """Return the Cancel button shown while a job runs."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id, lang))
    return view


def result_view(job_id: str, *, last_part: bool, lang: Lang = ENGLISH) -> discord.ui.View:
    """Return Reroll/Remix for the last part of a result; Edit (of the images in that
    message) and Delete for every part."""
    view = discord.ui.View(timeout=None)
    if last_part:
        view.add_item(RerollButton(job_id, lang))
        view.add_item(RemixButton(job_id, lang))
    view.add_item(EditButton(job_id, lang))
    view.add_item(DeleteButton(job_id, lang))
    return view


DYNAMIC_ITEMS = (CancelButton, RerollButton, RemixButton, EditButton, DeleteButton)
