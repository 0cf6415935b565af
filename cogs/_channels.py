"""Which channel a command's rules come from: a thread follows its parent channel."""

from __future__ import annotations

from typing import Any

import discord

__all__ = ["rules_channel", "rules_channel_id", "rules_channel_is_nsfw"]


def rules_channel(interaction: discord.Interaction[Any]) -> Any:
    """Return the channel whose rules apply: the one used, or a thread's parent."""
    channel = interaction.channel
    parent = getattr(channel, "parent", None)
    return parent if isinstance(parent, discord.abc.GuildChannel) else channel


def rules_channel_id(interaction: discord.Interaction[Any]) -> int:
    """Return the channel whose settings and quota total apply to this interaction."""
    channel = rules_channel(interaction)
    return channel.id if channel is not None else interaction.channel_id or 0


def rules_channel_is_nsfw(interaction: discord.Interaction[Any]) -> bool:
    """Return whether that channel is age-restricted."""
    is_nsfw = getattr(rules_channel(interaction), "is_nsfw", None)
    return bool(is_nsfw and is_nsfw())
