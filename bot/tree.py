"""The command tree, and the one error reply shared by commands, buttons and modals."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.errors import UserFacingError

__all__ = ["GENERIC_FAILURE", "ImagineTree", "reply_to_error", "send_ephemeral"]

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


def _source(interaction: discord.Interaction[Any]) -> str:
    """Name what the member used, for the log: a command's path or a component's custom_id."""
    if interaction.command is not None:
        return f"command {interaction.command.qualified_name}"
    data: dict[str, Any] = dict(interaction.data or {})
    return f"{interaction.type.name} {data.get('custom_id', '?')}"


def _message_for(interaction: discord.Interaction[Any], cause: BaseException) -> str:
    """Return what the member reads about `cause`; log anything not meant for them."""
    if isinstance(cause, UserFacingError):
        return cause.message
    if isinstance(cause, app_commands.MissingPermissions):
        needed = ", ".join(p.replace("_", " ").title() for p in cause.missing_permissions)
        return f"You need the {needed} permission to use this."
    if isinstance(cause, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(cause, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(cause, app_commands.TransformerError):
        return f"That value doesn't work for this option: {cause.value!r}."
    # log.exception needs an active `except`; a component hands the error over afterwards.
    log.error("%s failed", _source(interaction), exc_info=cause)
    return GENERIC_FAILURE


async def reply_to_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Answer a failed command, button or modal privately, so it never just "fails".

    A UserFacingError (or a check or option refusal) is shown as it is; anything else is
    logged with its traceback and the member gets a generic apology.
    """
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    message = _message_for(interaction, cause)
    try:
        await send_ephemeral(interaction, message)
    except discord.HTTPException as exc:
        log.warning("could not send the error reply: %s", exc)


class ImagineTree(app_commands.CommandTree[Any]):
    """A CommandTree that turns known errors into ephemeral replies and logs the rest."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        await reply_to_error(interaction, error)
