"""The command tree, and the one error reply shared by commands, buttons and modals.

Replies are in the member's language (bot/i18n): a UserFacingError carries its sentence as a
`Text`, rendered here with the interaction's locale.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.i18n import Text, _, language

__all__ = [
    "GENERIC_FAILURE",
    "CatalogueTranslator",
    "ImagineTree",
    "reply_to_error",
    "send_ephemeral",
]

log = logging.getLogger(__name__)

GENERIC_FAILURE = _("Something went wrong on our side; nothing was charged. Please try again.")


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


def _message_for(interaction: discord.Interaction[Any], cause: BaseException) -> Text:
    """Return what the member reads about `cause`; log anything not meant for them."""
    if isinstance(cause, UserFacingError):
        return cause.text
    if isinstance(cause, app_commands.MissingPermissions):
        # Discord's own names for permissions, as its settings show them in English.
        needed = ", ".join(p.replace("_", " ").title() for p in cause.missing_permissions)
        return _("You need the {permissions} permission to use this.", permissions=needed)
    if isinstance(cause, app_commands.NoPrivateMessage):
        return _("This command only works in a server.")
    if isinstance(cause, app_commands.CheckFailure):
        return _("You can't use this command here.")
    if isinstance(cause, app_commands.TransformerError):
        return _("That value doesn't work for this option: {value}.", value=repr(cause.value))
    # log.exception needs an active `except`; a component hands the error over afterwards.
    log.error("%s failed", _source(interaction), exc_info=cause)
    return GENERIC_FAILURE


async def reply_to_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Answer a failed command, button or modal privately, so it never just "fails".

    A UserFacingError (or a check or option refusal) is shown in the member's language;
    anything else is logged with its traceback and the member gets a generic apology.
    """
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    message = language(interaction.locale)(_message_for(interaction, cause))
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


# Discord's Chinese locales; both read Simplified Chinese (SPEC: "Languages").
CHINESE_LOCALES = (discord.Locale.chinese, discord.Locale.taiwan_chinese)
# Names stay English in every language: replies, the README and admins' habits name the
# commands and options (`/imagine-admin channel enable`, `prompt`) one way.
_NAMES = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)


class CatalogueTranslator(app_commands.Translator):
    """Gives Discord the Chinese command, option and choice descriptions from the catalogue.

    discord.py asks for every locale when it builds the sync payload; only zh-CN and zh-TW
    are answered. A string the catalogue lacks is left to Discord's English default
    (tests/i18n fails the build on one).
    """

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale not in CHINESE_LOCALES or context.location in _NAMES:
            return None
        lang = language(locale)
        return lang.gettext(string.message) if lang.has(string.message) else None
