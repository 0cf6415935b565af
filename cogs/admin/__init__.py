"""/imagine-admin: channels, mode, quotas, blocklist and usage, for members with Manage Server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.admin._cog import ImagineAdmin

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["ImagineAdmin", "setup"]


async def setup(bot: ImagineBot) -> None:
    """Load the cog."""
    await bot.add_cog(ImagineAdmin(bot))
