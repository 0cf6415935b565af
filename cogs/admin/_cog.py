"""/imagine-admin: Discord glue over bot.control for the server's admins.

Every subcommand needs Manage Server. `default_permissions` only hides the command in
Discord's client (and admins can re-grant it to anyone in the integration settings), so
`ensure_admin` enforces it on every call: through the cog's `interaction_check` for `mode`
and `usage`, and through `AdminGroup.interaction_check` for the three groups' subcommands.
All writes go through bot.control, which writes the audit row in the same transaction;
replies are ephemeral and show old → new.

The commands fit Discord's two levels of nesting (`/imagine-admin <group> <subcommand>`):

- choosing open or allowlist mode is one subcommand `mode` with a required `mode` choice
  (one command instead of two, and the choice shows what each mode means);
- resetting a member's usage is the subcommand `quota reset` with a required `member`
  option, since Discord allows no group inside a group; likewise `quota clear` takes a
  `scope` choice and the role, member or channel that scope needs;
- `channel set` also takes `clear` (one setting, or all) so a value can be forgotten and the
  default apply again: an omitted option means "keep", so it can't express "unset";
- `usage` defaults to the current month: spending is reviewed like a bill, and the day and
  week are one choice away.

Each group lives in its own module (`_channel`, `_quota`, `_blocklist`); the helpers they
share are in `_base`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from discord import app_commands
from discord.ext import commands

from bot.control.periods import Period, parse_period
from bot.control.usage import usage
from cogs.admin import _embeds as ui
from cogs.admin._base import (
    PERIOD_CHOICES,
    Interaction,
    control,
    defer,
    ensure_admin,
    guild_id,
    reply,
    writer,
)
from cogs.admin._blocklist import BlocklistGroup
from cogs.admin._channel import ChannelGroup
from cogs.admin._quota import QuotaGroup

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["ImagineAdmin"]

MODE_CHOICES = [
    app_commands.Choice(name="open: every channel unless disabled", value="open"),
    app_commands.Choice(name="allowlist: only enabled channels", value="allowlist"),
]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ImagineAdmin(
    commands.GroupCog,
    group_name="imagine-admin",
    group_description="Control /imagine: channels, quotas, blocklist, usage (Manage Server)",
):
    """Admin controls for /imagine."""

    # The order here is the order Discord lists the subcommands in.
    channel_group = ChannelGroup()
    quota_group = QuotaGroup()
    blocklist_group = BlocklistGroup()

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        """Refuse anyone without Manage Server, whatever the client let them run."""
        return ensure_admin(interaction)

    @app_commands.command(name="mode", description="Open (every channel) or allowlist mode")
    @app_commands.describe(mode="open: every channel unless disabled; allowlist: only enabled")
    @app_commands.choices(mode=MODE_CHOICES)
    async def mode(self, interaction: Interaction, mode: app_commands.Choice[str]) -> None:
        """Choose where /imagine works by default."""
        await defer(interaction)
        change = await control(interaction).channels.set_mode(
            guild_id(interaction), mode.value, **writer(interaction)
        )
        await reply(interaction, ui.mode_text(change.old, change.new))

    @app_commands.command(name="usage", description="Images, credits and top members")
    @app_commands.describe(period="The current day, week or month in UTC (default: month)")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def usage(
        self, interaction: Interaction, period: app_commands.Choice[str] | None = None
    ) -> None:
        """Show this period's images, credits and top members."""
        await defer(interaction)
        chosen: Period = parse_period(period.value) if period else "month"
        report = await usage(control(interaction).db, guild_id(interaction), chosen, time.time())
        await reply(interaction, embed=ui.usage_embed(report))
