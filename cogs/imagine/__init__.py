"""/imagine: the command, its progress message, its result buttons, and their delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.imagine._cog import Imagine
from cogs.imagine._delivery import DiscordDelivery

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["DiscordDelivery", "Imagine", "setup"]


async def setup(bot: ImagineBot) -> None:
    """Load the cog."""
    await bot.add_cog(Imagine(bot))
