"""/quota: what a member may still generate here, when it resets, and what is in progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.control import QuotaFigure
from bot.jobs.models import Job, JobState
from cogs._common import plural, rules_channel_id, truncate

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["Quota", "quota_embed", "setup"]

COLOUR = discord.Colour.blurple()
MAX_JOBS_LISTED = 5

_SCOPES = (
    ("member", "You"),
    ("channel", "This channel (shared total)"),
    ("server", "This server (shared total)"),
)
_SOURCES = {"member": "set for you", "role": "from your role", "default": "server default"}
_STATES = {
    JobState.QUEUED: "waiting in line",
    JobState.SUBMITTING: "sending to kie.ai",
    JobState.RUNNING: "generating",
    JobState.DELIVERING: "posting",
}


def _figure_text(figure: QuotaFigure) -> str:
    if figure.limit == 0:
        return "Not allowed (limit 0)"
    return (
        f"**{figure.remaining} of {figure.limit}** left per {figure.period} · "
        f"resets <t:{figure.resets_at}:R>"
    )


def _summary(figures: Sequence[QuotaFigure], refusal: str | None) -> str:
    if refusal:
        return refusal
    if not figures:
        return "No limit applies to you here: **unlimited**."
    left = min(f.remaining for f in figures)
    if left == 0:
        return "You can't generate more images here right now."
    return f"You can generate **{plural(left)}** more here."


def _job_line(job: Job) -> str:
    prompt = discord.utils.escape_markdown(truncate(job.options.prompt, 60))
    return (
        f"{_STATES.get(job.state, job.state.value)} · {plural(job.options.images)} · "
        f"started <t:{int(job.created_at)}:R> · {prompt}"
    )


def quota_embed(
    figures: Sequence[QuotaFigure],
    jobs: Sequence[Job],
    *,
    max_jobs: int,
    refusal: str | None = None,
) -> discord.Embed:
    """Return the member's remaining images per applicable limit and their jobs in flight."""
    embed = discord.Embed(
        title="Your /imagine quota here", description=_summary(figures, refusal), colour=COLOUR
    )
    by_scope: dict[str, QuotaFigure] = {f.scope: f for f in figures}
    for scope, label in _SCOPES:
        figure = by_scope.get(scope)
        if figure is None:
            embed.add_field(name=label, value="unlimited", inline=False)
            continue
        name = f"{label} ({_SOURCES[figure.source]})" if scope == "member" else label
        embed.add_field(name=name, value=_figure_text(figure), inline=False)
    lines = [_job_line(job) for job in jobs[:MAX_JOBS_LISTED]]
    if len(jobs) > MAX_JOBS_LISTED:
        lines.append(f"… and {len(jobs) - MAX_JOBS_LISTED} more")
    embed.add_field(
        name=f"In progress ({len(jobs)} of at most {max_jobs} at a time)",
        value=truncate("\n".join(lines), 1024) if lines else "Nothing.",
        inline=False,
    )
    embed.set_footer(text="Periods are UTC calendar days, weeks (from Monday) and months.")
    return embed


class Quota(commands.Cog):
    """Let members see their image quota."""

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota", description="How many images you may still generate here")
    @app_commands.guild_only()
    async def quota(self, interaction: discord.Interaction[ImagineBot]) -> None:
        """Show how many images you may still generate here, and when that resets."""
        # Private, and acknowledged before the database is read (Discord allows 3 s).
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = interaction.user
        guild_id = interaction.guild_id
        assert guild_id is not None  # guild_only
        role_ids = [r.id for r in member.roles] if isinstance(member, discord.Member) else []
        # The same channel id /imagine reserves against.
        standing = await self.bot.admission.standing(
            guild_id, rules_channel_id(interaction), member.id, role_ids
        )
        embed = quota_embed(
            standing.figures,
            standing.jobs,
            max_jobs=standing.max_jobs,
            refusal=standing.refusal,
        )
        await interaction.edit_original_response(
            embed=embed, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: ImagineBot) -> None:
    """Load the cog."""
    await bot.add_cog(Quota(bot))
