"""Fixtures for the Discord stand-in's own tests."""

from tests.standins.discord.fixtures import discord_error_guard, fake_discord
from tests.standins.discord.testclient import raw

__all__ = ["discord_error_guard", "fake_discord", "raw"]
