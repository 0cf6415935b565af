"""What every cog shares: the rules channel, the NSFW check, size choices, the reader's language
and wording helpers."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import Lang, Text, _, language
from bot.kie import ImageSize, Resolution

__all__ = [
    "RESOLUTION_CHOICES",
    "SIZE_CHOICES",
    "SIZE_NAMES",
    "is_nsfw",
    "lang_for",
    "rules_channel",
    "rules_channel_id",
    "rules_channel_is_nsfw",
    "truncate",
]

SIZE_NAMES: dict[ImageSize, Text] = {
    ImageSize.SQUARE: _("Square"),
    ImageSize.SQUARE_HD: _("Square HD"),
    ImageSize.PORTRAIT_4_3: _("Portrait 3:4"),
    ImageSize.PORTRAIT_3_2: _("Portrait 2:3"),
    ImageSize.PORTRAIT_16_9: _("Portrait 9:16"),
    ImageSize.LANDSCAPE_4_3: _("Landscape 4:3"),
    ImageSize.LANDSCAPE_3_2: _("Landscape 3:2"),
    ImageSize.LANDSCAPE_16_9: _("Landscape 16:9"),
    ImageSize.LANDSCAPE_21_9: _("Landscape 21:9"),
}
# Choice names are msgids too: bot/tree.py's translator gives Discord their Chinese.
SIZE_CHOICES = [app_commands.Choice(name=SIZE_NAMES[s].msgid, value=s.value) for s in ImageSize]
RESOLUTION_CHOICES = [app_commands.Choice(name=r.value, value=r.value) for r in Resolution]


def lang_for(interaction: discord.Interaction[Any]) -> Lang:
    """Return the language to answer this member in: their Discord client's (bot/i18n)."""
    return language(interaction.locale)


def rules_channel(interaction: discord.Interaction[Any]) -> Any:
    """Return the channel whose rules apply: the one used, or a thread's parent."""
    channel = interaction.channel
    parent = getattr(channel, "parent", None)
    return parent if isinstance(parent, discord.abc.GuildChannel) else channel


def rules_channel_id(interaction: discord.Interaction[Any]) -> int:
    """Return the channel whose settings and quota total apply to this interaction."""
    channel = rules_channel(interaction)
    return channel.id if channel is not None else interaction.channel_id or 0


def is_nsfw(channel: Any) -> bool:
    """Return whether a channel is age-restricted (False for anything that can't be)."""
    check = getattr(channel, "is_nsfw", None)
    return bool(check and check())


def rules_channel_is_nsfw(interaction: discord.Interaction[Any]) -> bool:
    """Return whether the channel whose rules apply is age-restricted."""
    return is_nsfw(rules_channel(interaction))


def truncate(text: str, limit: int) -> str:
    """Cut text to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
