"""Several bot processes against the Discord stand-in, on one PostgreSQL schema."""

from tests.cluster.conftest import open_pg, pg_schema
from tests.standins.discord.fixtures import discord_error_guard, fake_discord

__all__ = ["discord_error_guard", "fake_discord", "open_pg", "pg_schema"]
