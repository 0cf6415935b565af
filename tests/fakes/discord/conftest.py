"""Fixtures for the Discord stand-in's own tests."""

from tests.fakes.discord.fixtures import discord_error_guard, fake_discord
from tests.fakes.discord.testclient import raw

__all__ = ["discord_error_guard", "fake_discord", "raw"]
