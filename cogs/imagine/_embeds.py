"""Pure builders for the embeds /imagine shows (no I/O)."""

from __future__ import annotations

import discord

from bot.credits import format_credits
from bot.jobs.models import Job, JobState
from bot.jobs.ports import Progress, ResultPart
from cogs._common import SIZE_NAMES, truncate

__all__ = [
    "cancelled_embed",
    "failure_embed",
    "progress_embed",
    "result_embed",
]

COLOUR_WORKING = discord.Colour.blurple()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_CANCELLED = discord.Colour.light_grey()

_KIE_STATES = {
    "waiting": "Accepted by kie.ai, waiting to start",
    "queuing": "In kie.ai's queue",
    "generating": "Generating",
}


_STAGES = {
    "downloading": "Downloading the images from kie.ai",
    "posting": "Posting the images",
}


def _status(job: Job, progress: Progress) -> str:
    if progress.unconfirmed:
        return "kie.ai has not confirmed the request yet; it will be delivered if it was made"
    if progress.kie_busy:
        return "kie.ai is busy right now; your request keeps its place and goes on shortly"
    if job.state is JobState.QUEUED:
        if progress.queue_position:
            status = f"Waiting in line — place **{progress.queue_position:,}**"
        else:
            status = "Waiting in line"
        if progress.behind_own:
            status += " (after your requests already at kie.ai)"
        return status
    if job.state is JobState.SUBMITTING:
        return "Sending to kie.ai"
    if job.state is JobState.RUNNING:
        return _KIE_STATES.get(job.kie_state or "", "Working")
    if job.state is JobState.DELIVERING:
        return _STAGES.get(progress.stage or "", "Downloading and posting the images")
    return job.state.value.title()


def progress_embed(job: Job, progress: Progress) -> discord.Embed:
    """Return the embed showing a job in progress.

    Waiting: its place in line and when it will likely start; at kie: kie's state and when
    it will likely finish; then downloading or posting.
    """
    embed = discord.Embed(
        title="Imagining…", description=truncate(job.options.prompt, 1000), colour=COLOUR_WORKING
    )
    embed.add_field(name="Status", value=_status(job, progress), inline=False)
    embed.add_field(name="Asked", value=f"<t:{int(job.created_at)}:R>")
    if progress.starts_at and job.state is JobState.QUEUED:
        embed.add_field(name="Expected start", value=f"<t:{int(progress.starts_at)}:R>")
    if progress.eta and job.state in (JobState.RUNNING, JobState.SUBMITTING):
        embed.add_field(name="Expected", value=f"<t:{int(progress.eta)}:R>")
    embed.set_footer(text=_options_line(job))
    return embed


def _options_line(job: Job) -> str:
    o = job.options
    seed = "random" if o.seed is None else str(o.seed)
    return f"{SIZE_NAMES[o.size]} · {o.resolution.value} · {o.images} image(s) · seed {seed}"


def result_embed(job: Job, part: ResultPart, *, took: float | None) -> discord.Embed:
    """Return the embed posted with (one part of) a job's images."""
    title = "Imagined" if part.count == 1 else f"Imagined — part {part.index + 1} of {part.count}"
    embed = discord.Embed(
        title=title, description=truncate(job.options.prompt, 4000), colour=COLOUR_DONE
    )
    o = job.options
    embed.add_field(name="Size", value=SIZE_NAMES[o.size])
    embed.add_field(name="Resolution", value=o.resolution.value)
    embed.add_field(name="Seed", value="random" if o.seed is None else str(o.seed))
    if job.credits_consumed is not None:
        embed.add_field(name="Credits", value=format_credits(job.credits_consumed))
    if took is not None:
        embed.add_field(name="Time", value=f"{took:.0f} s")
    if part.originals:
        links = " ".join(f"[#{n}]({url})" for n, url in sorted(part.originals.items()))
        embed.add_field(
            name="Full resolution (shrunk to fit Discord)",
            value=truncate(links, 1024),
            inline=False,
        )
    return embed


def failure_embed(job: Job, message: str) -> discord.Embed:
    """Return the embed telling the requester why a job failed."""
    embed = discord.Embed(title="Couldn't imagine that", description=message, colour=COLOUR_FAILED)
    embed.add_field(name="Prompt", value=truncate(job.options.prompt, 1000), inline=False)
    return embed


def cancelled_embed(job: Job) -> discord.Embed:
    """Return the embed for a cancelled job."""
    embed = discord.Embed(
        title="Cancelled", description="Nothing was charged to your quota.", colour=COLOUR_CANCELLED
    )
    embed.add_field(name="Prompt", value=truncate(job.options.prompt, 1000), inline=False)
    return embed
