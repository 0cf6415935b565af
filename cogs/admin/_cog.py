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
  week are one choice away. Its chart (bot/control/usage_chart.py) is drawn on a worker
  thread, one at a time per bot, so the event loop never waits for matplotlib; members are
  named in it by their display names when Discord gives them within a moment, else by rank.

Each group lives in its own module (`_channel`, `_quota`, `_blocklist`); the helpers they
share are in `_base`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.control.periods import Period, parse_period
from bot.control.usage import UsageReport, usage
from bot.control.usage_chart import chart_filename, render_usage_chart
from cogs._common import lang_for
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

log = logging.getLogger(__name__)

# How long the chart waits for members' display names before labelling them by rank.
NAMES_TIMEOUT = 2.0

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
        # One chart at a time: a burst of /imagine-admin usage then holds one worker thread of
        # the loop's default executor (shared with DNS look-ups and others), not all of them.
        self._chart_slot = asyncio.Semaphore(1)
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
        """Show this period's images, credits and top members, with a chart of its days."""
        await defer(interaction)
        chosen: Period = parse_period(period.value) if period else "month"
        report = await usage(control(interaction).db, guild_id(interaction), chosen, time.time())
        lang = lang_for(interaction)
        chart = None if report.is_empty else await self._chart(interaction, report)
        if chart is None:
            await reply(interaction, embed=ui.usage_embed(report, lang=lang))
            return
        name = chart_filename(report)
        await reply(
            interaction,
            embed=ui.usage_embed(report, chart=name, lang=lang),
            file=discord.File(io.BytesIO(chart), filename=name),
        )

    async def _chart(self, interaction: Interaction, report: UsageReport) -> bytes | None:
        """Return the report's chart as PNG, drawn off the event loop; None if drawing failed."""
        names = await _display_names(interaction, report)
        try:
            async with self._chart_slot:
                return await asyncio.to_thread(
                    render_usage_chart, report, names, lang_for(interaction)
                )
        except Exception:
            # The embed's exact figures still go out, saying the chart is missing.
            log.exception("could not draw the usage chart of guild %s", report.guild_id)
            return None


async def _display_names(interaction: Interaction, report: UsageReport) -> dict[int, str]:
    """Return the top members' display names: from the cache, else asked of Discord briefly.

    The bot has no member intent, so most members are not cached; one GET per missing member
    (at most five) is asked for at once, and whoever isn't found in time is labelled by rank.
    """
    guild = interaction.guild
    if guild is None:
        return {}
    names: dict[int, str] = {}
    missing: list[int] = []
    for member in report.top_members:
        cached = guild.get_member(member.user_id)
        if cached is not None:
            names[member.user_id] = cached.display_name
        else:
            missing.append(member.user_id)

    async def fetch(user_id: int) -> None:
        # Left the server, or Discord said no: labelled by rank.
        with contextlib.suppress(discord.HTTPException):
            names[user_id] = (await guild.fetch_member(user_id)).display_name

    if missing:
        try:
            async with asyncio.timeout(NAMES_TIMEOUT):
                await asyncio.gather(*(fetch(user_id) for user_id in missing))
        except TimeoutError:
            log.info("display names for the usage chart took over %s s", NAMES_TIMEOUT)
    return names
