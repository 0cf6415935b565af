"""A spec'd stand-in for one discord.Interaction, for unit tests of replies and components."""

from __future__ import annotations

from typing import Any
from unittest.mock import create_autospec

import discord
from discord import app_commands
from discord.ext import commands

__all__ = ["fake_interaction"]


def fake_interaction(
    *,
    done: bool = False,
    expired: bool = False,
    command: app_commands.Command[Any, ..., Any] | None = None,
    custom_id: str = "imagine:reroll:" + "0" * 32,
    cogs: dict[str, Any] | None = None,
    user_id: int = 1001,
) -> Any:
    """Return a spec'd Interaction: a component click, or a command when `command` is given.

    `cogs` is what `interaction.client.get_cog(name)` finds.
    """
    interaction = create_autospec(discord.Interaction, instance=True, spec_set=True)
    interaction.response = create_autospec(
        discord.InteractionResponse, instance=True, spec_set=True
    )
    interaction.response.is_done.return_value = done
    interaction.followup = create_autospec(discord.Webhook, instance=True, spec_set=True)
    interaction.is_expired.return_value = expired
    interaction.command = command
    interaction.type = (
        discord.InteractionType.component
        if command is None
        else discord.InteractionType.application_command
    )
    interaction.data = {"custom_id": custom_id}
    interaction.user = create_autospec(discord.Member, instance=True, spec_set=True)
    interaction.user.id = user_id
    client = create_autospec(commands.Bot, instance=True, spec_set=True)
    client.get_cog.side_effect = (cogs or {}).get
    interaction.client = client
    return interaction
