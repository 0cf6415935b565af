"""The command tree: one error handler for every app command."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.errors import UserFacingError

__all__ = ["ImagineTree", "send_ephemeral"]

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on our side; nothing was charged. Please try again."


async def send_ephemeral(interaction: discord.Interaction[Any], message: str) -> None:
    """Tell the member `message` privately, whether or not the interaction was answered."""
    if interaction.is_expired():
        return
    if interaction.response.is_done():
        await interaction.followup.send(message, ephemeral=True)
    else:
        await interaction.response.send_message(message, ephemeral=True)


class ImagineTree(app_commands.CommandTree[Any]):
    """A CommandTree that turns known errors into ephemeral replies and logs the rest."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserFacingError):
            message = cause.message
        elif isinstance(cause, app_commands.MissingPermissions):
            needed = ", ".join(p.replace("_", " ").title() for p in cause.missing_permissions)
            message = f"You need the {needed} permission to use this."
        elif isinstance(cause, app_commands.NoPrivateMessage):
            message = "This command only works in a server."
        elif isinstance(cause, app_commands.CheckFailure):
            message = "You can't use this command here."
        elif isinstance(cause, app_commands.TransformerError):
            message = f"That value doesn't work for this option: {cause.value!r}."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("command %s failed", command, exc_info=cause)
            message = GENERIC_FAILURE
        try:
            await send_ephemeral(interaction, message)
        except discord.HTTPException as exc:
            log.warning("could not send the error reply: %s", exc)
