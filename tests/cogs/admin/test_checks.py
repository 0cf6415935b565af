"""/imagine-admin enforces Manage Server on every subcommand, grouped or not."""

from __future__ import annotations

from typing import Any
from unittest.mock import create_autospec

import discord
import pytest
from discord import app_commands

from bot.imagine_bot import ImagineBot
from cogs.admin import ImagineAdmin
from cogs.admin._base import NotAnAdmin
from tests.cogs.helpers import fake_interaction


def _subcommands() -> list[app_commands.Command[Any, ..., Any]]:
    cog = ImagineAdmin(create_autospec(ImagineBot, instance=True))
    group = cog.app_command
    assert group is not None
    return [c for c in group.walk_commands() if isinstance(c, app_commands.Command)]


SUBCOMMANDS = _subcommands()


def _interaction(command: Any, *, manage_guild: bool, guild_id: int | None = 1) -> Any:
    interaction = fake_interaction(command=command)
    interaction.permissions = discord.Permissions(manage_guild=manage_guild)
    interaction.guild_id = guild_id
    return interaction


def test_every_subcommand_is_listed() -> None:
    """All 17 subcommands are found, so the checks below cover the whole tree."""
    assert len(SUBCOMMANDS) == 17


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=[c.qualified_name for c in SUBCOMMANDS])
async def test_without_manage_server_every_subcommand_refuses(command: Any) -> None:
    """The check discord.py runs before the callback refuses a member without Manage Server."""
    with pytest.raises(NotAnAdmin):
        await command._check_can_run(_interaction(command, manage_guild=False))
    with pytest.raises(app_commands.NoPrivateMessage):
        await command._check_can_run(_interaction(command, manage_guild=True, guild_id=None))
    assert await command._check_can_run(_interaction(command, manage_guild=True))
