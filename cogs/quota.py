"""/quota: what a member may still generate here, when it resets, and what is in progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.control import QuotaFigure
from bot.control.periods import PER_PERIOD
from bot.i18n import ENGLISH, Lang, Text, _, ngettext
from bot.jobs.models import Job, JobState
from cogs._common import lang_for, rules_channel_id, truncate

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["Quota", "quota_embed", "setup"]

COLOUR = discord.Colour.blurple()
MAX_JOBS_LISTED = 5

_SCOPES = (
    ("member", _("You")),
    ("channel", _("This channel (shared total)")),
    ("server", _("This server (shared total)")),
)
_SOURCES = {
    "member": _("You (set for you)"),
    "role": _("You (from your role)"),
    "default": _("You (server default)"),
}
_STATES = {
    JobState.QUEUED: _("waiting in line"),
    JobState.SUBMITTING: _("sending to kie.ai"),
    JobState.RUNNING: _("generating"),
    JobState.DELIVERING: _("posting"),
}


def _figure_text(figure: QuotaFigure) -> Text:
    if figure.limit == 0:
        return _("Not allowed (limit 0)")
    return _(
        "**{remaining} of {limit}** left {per_period} · resets {resets}",
        remaining=figure.remaining,
        limit=figure.limit,
        per_period=PER_PERIOD[figure.period],
        resets=f"<t:{figure.resets_at}:R>",
    )


def _summary(figures: Sequence[QuotaFigure], refusal: Text | None) -> Text:
    if refusal:
        return refusal
    if not figures:
        return _("No limit applies to you here: **unlimited**.")
    left = min(f.remaining for f in figures)
    if left == 0:
        return _("You can't generate more images here right now.")
    return ngettext(
        "You can generate **{n} image** more here.",
        "You can generate **{n} images** more here.",
        left,
    )


def _job_line(job: Job) -> Text:
    state = _STATES.get(job.state)
    return ngettext(
        "{state} · {n} image · started {started} · {prompt}",
        "{state} · {n} images · started {started} · {prompt}",
        job.options.images,
        state=state if state is not None else job.state.value,
        started=f"<t:{int(job.created_at)}:R>",
        prompt=discord.utils.escape_markdown(truncate(job.options.prompt, 60)),
    )


def quota_embed(
    figures: Sequence[QuotaFigure],
    jobs: Sequence[Job],
    *,
    max_jobs: int,
    refusal: Text | None = None,
    lang: Lang = ENGLISH,
) -> discord.Embed:
    """Return the member's remaining images per applicable limit and their jobs in flight."""
    embed = discord.Embed(
        title=lang(_("Your /imagine quota here")),
        description=lang(_summary(figures, refusal)),
        colour=COLOUR,
    )
    by_scope: dict[str, QuotaFigure] = {f.scope: f for f in figures}
    for scope, label in _SCOPES:
        figure = by_scope.get(scope)
        if figure is None:
            embed.add_field(name=lang(label), value=lang(_("unlimited")), inline=False)
            continue
        name = _SOURCES[figure.source] if scope == "member" else label
        embed.add_field(name=lang(name), value=lang(_figure_text(figure)), inline=False)
    lines = [lang(_job_line(job)) for job in jobs[:MAX_JOBS_LISTED]]
    if len(jobs) > MAX_JOBS_LISTED:
        lines.append(lang(_("… and {count} more", count=len(jobs) - MAX_JOBS_LISTED)))
    embed.add_field(
        name=lang(
            _(
                "In progress ({count} of at most {most} at a time)",
                count=len(jobs),
                most=max_jobs,
            )
        ),
        value=truncate("\n".join(lines), 1024) if lines else lang(_("Nothing.")),
        inline=False,
    )
    embed.set_footer(text=lang(_("Periods are UTC calendar days, weeks (from Monday) and months.")))
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
            lang=lang_for(interaction),
        )
        await interaction.edit_original_response(
            embed=embed, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: ImagineBot) -> None:
    """Load the cog."""
    await bot.add_cog(Quota(bot))
