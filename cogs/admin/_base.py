"""What every /imagine-admin subcommand shares: the Manage Server check and the reply helpers."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeAlias

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.i18n import Text, _
from cogs._common import lang_for, rules_channel, truncate

if TYPE_CHECKING:
    from bot.control import Control
    from bot.imagine_bot import ImagineBot

__all__ = [
    "NO_PINGS",
    "PERIOD_CHOICES",
    "AdminGroup",
    "Interaction",
    "NotAnAdmin",
    "TargetChannel",
    "control",
    "defer",
    "ensure_admin",
    "guild_id",
    "here",
    "reply",
    "writer",
]

log = logging.getLogger(__name__)

Interaction: TypeAlias = discord.Interaction["ImagineBot"]
# Where /imagine can be used: text, announcement, voice and stage chats, and forum posts
# (threads follow their parent channel's settings, so a thread is never a target here).
TargetChannel = (
    discord.TextChannel | discord.VoiceChannel | discord.StageChannel | discord.ForumChannel
)

NO_PINGS = discord.AllowedMentions.none()

# Every quota subcommand repeats these, and Discord caps a command's names, descriptions and
# choices at 4000 characters in all: keep them short (the option description says "UTC").
PERIOD_CHOICES = [
    app_commands.Choice(name="day", value="day"),
    app_commands.Choice(name="week (from Monday)", value="week"),
    app_commands.Choice(name="month", value="month"),
]


class NotAnAdmin(app_commands.CheckFailure, UserFacingError):
    """Raised by the permission check; the tree shows its message privately."""

    def __init__(self) -> None:
        UserFacingError.__init__(
            self, _("Only members with the **Manage Server** permission can use /imagine-admin.")
        )


def ensure_admin(interaction: Interaction) -> bool:
    """Refuse anyone without Manage Server, whatever the client let them run."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    # interaction.permissions is what Discord resolved for the member in this channel
    # (administrators and the owner included).
    if not interaction.permissions.manage_guild:
        log.info(
            "refused /%s for %s: no Manage Server",
            interaction.command.qualified_name if interaction.command else "imagine-admin",
            interaction.user.id,
        )
        raise NotAnAdmin()
    return True


class AdminGroup(app_commands.Group):
    """A subcommand group of /imagine-admin: every command in it runs the Manage Server check.

    discord.py runs the check of the object a command is bound to, and a group's commands are
    bound to the group, not to the cog: without this, the cog's check would not run for them.
    """

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        """Refuse anyone without Manage Server."""
        return ensure_admin(interaction)


def control(interaction: Interaction) -> Control:
    """Return the bot's control layer (channel settings, quotas, blocklist)."""
    return interaction.client.control


async def defer(interaction: Interaction) -> None:
    """Acknowledge privately before touching the database."""
    # Writes wait for the database's write lock, which a rush of /imagine can hold for a
    # moment: acknowledge first, so Discord's 3 s window never runs out.
    await interaction.response.defer(ephemeral=True, thinking=True)


async def reply(
    interaction: Interaction,
    content: str | Text | None = None,
    *,
    embed: discord.Embed | None = None,
    file: discord.File | None = None,
) -> None:
    """Replace the deferred "thinking…" with the answer, pinging no one.

    A `Text` is rendered in the admin's language; a str is already rendered.
    """
    if isinstance(content, Text):
        content = lang_for(interaction)(content)
    await interaction.edit_original_response(
        content=content and truncate(content, 2000),
        embed=embed,
        attachments=[file] if file else [],
        allowed_mentions=NO_PINGS,
    )


def writer(interaction: Interaction) -> dict[str, Any]:
    """Return who is changing what, and when, for the audit row."""
    return {"actor_id": interaction.user.id, "now": time.time()}


def guild_id(interaction: Interaction) -> int:
    """Return the server's id (the check refused DMs)."""
    assert interaction.guild_id is not None
    return interaction.guild_id


def here(interaction: Interaction) -> discord.abc.GuildChannel:
    """Return the channel this was used in (a thread's parent, whose settings it follows)."""
    channel = rules_channel(interaction)
    if not isinstance(channel, discord.abc.GuildChannel):
        raise UserFacingError(_("Pick a channel with the `channel` option."))
    return channel
