"""Pure builders for the embeds /imagine shows (no I/O), in the reader's language (bot/i18n)."""

from __future__ import annotations

import re

import discord

from bot.credits import format_credits
from bot.i18n import ENGLISH, Lang, Text, _, ngettext
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
FIELD_MAX = 1024
# Characters that would end a markdown link's label early.
_LINK_UNSAFE = re.compile(r"[\[\]()<>]")

_KIE_STATES = {
    "waiting": _("Accepted by kie.ai, waiting to start"),
    "queuing": _("In kie.ai's queue"),
    "generating": _("Generating"),
}


_STAGES = {
    "downloading": _("Downloading the images from kie.ai"),
    "posting": _("Posting the images"),
}

_JOB_STATES = {
    JobState.DELIVERED: _("Delivered"),
    JobState.FAILED: _("Failed"),
    JobState.CANCELLED: _("Cancelled"),
}


# The progress embed's fixed words, built once (it is rendered for every /imagine).
_IMAGINING, _EDITING = _("Imagining…"), _("Editing…")
_STATUS, _ASKED = _("Status"), _("Asked")
_EXPECTED_START, _EXPECTED = _("Expected start"), _("Expected")


def _status(job: Job, progress: Progress) -> Text:
    if progress.unconfirmed:
        return _("kie.ai has not confirmed the request yet; it will be delivered if it was made")
    if progress.kie_busy:
        return _("kie.ai is busy right now; your request keeps its place and goes on shortly")
    if job.state is JobState.QUEUED:
        if progress.queue_position and progress.behind_own:
            return _(
                "Waiting in line — place **{place:,}** (after your requests already at kie.ai)",
                place=progress.queue_position,
            )
        if progress.queue_position:
            return _("Waiting in line — place **{place:,}**", place=progress.queue_position)
        if progress.behind_own:
            return _("Waiting in line (after your requests already at kie.ai)")
        return _("Waiting in line")
    if job.state is JobState.SUBMITTING:
        return _("Sending to kie.ai")
    if job.state is JobState.RUNNING:
        return _KIE_STATES.get(job.kie_state or "", _("Working"))
    if job.state is JobState.DELIVERING:
        return _STAGES.get(progress.stage or "", _("Downloading and posting the images"))
    return _JOB_STATES.get(job.state, _("Working"))


def progress_embed(job: Job, progress: Progress, *, lang: Lang = ENGLISH) -> discord.Embed:
    """Return the embed showing a job in progress, in the requester's language.

    Waiting: its place in line and when it will likely start; at kie: kie's state and when
    it will likely finish; then downloading or posting.
    """
    embed = discord.Embed(
        title=lang(_EDITING if job.options.is_edit else _IMAGINING),
        description=truncate(job.options.prompt, 1000),
        colour=COLOUR_WORKING,
    )
    embed.add_field(name=lang(_STATUS), value=lang(_status(job, progress)), inline=False)
    embed.add_field(name=lang(_ASKED), value=f"<t:{int(job.created_at)}:R>")
    if progress.starts_at and job.state is JobState.QUEUED:
        embed.add_field(name=lang(_EXPECTED_START), value=f"<t:{int(progress.starts_at)}:R>")
    if progress.eta and job.state in (JobState.RUNNING, JobState.SUBMITTING):
        embed.add_field(name=lang(_EXPECTED), value=f"<t:{int(progress.eta)}:R>")
    embed.set_footer(text=lang(_options_line(job)))
    return embed


def _seed(job: Job) -> Text | str:
    return _("random") if job.options.seed is None else str(job.options.seed)


def _options_line(job: Job) -> Text:
    o = job.options
    return ngettext(
        "{size} · {resolution} · {n} image · seed {seed}",
        "{size} · {resolution} · {n} images · seed {seed}",
        o.images,
        size=SIZE_NAMES[o.size],
        resolution=o.resolution.value,
        seed=_seed(job),
    )


def result_embed(
    job: Job, part: ResultPart, *, took: float | None, lang: Lang = ENGLISH
) -> discord.Embed:
    """Return the embed posted with (one part of) a job's images.

    An edit job's embed says so, with links to its reference images and a small preview of
    the first.
    """
    edited = job.options.is_edit
    if part.count == 1:
        title = _("Edited") if edited else _("Imagined")
    elif edited:
        title = _("Edited — part {part} of {parts}", part=part.index + 1, parts=part.count)
    else:
        title = _("Imagined — part {part} of {parts}", part=part.index + 1, parts=part.count)
    embed = discord.Embed(
        title=lang(title), description=truncate(job.options.prompt, 4000), colour=COLOUR_DONE
    )
    o = job.options
    seed = _seed(job)
    embed.add_field(name=lang(_("Size")), value=lang(SIZE_NAMES[o.size]))
    embed.add_field(name=lang(_("Resolution")), value=o.resolution.value)
    embed.add_field(name=lang(_("Seed")), value=lang(seed) if isinstance(seed, Text) else seed)
    if job.credits_consumed is not None:
        embed.add_field(name=lang(_("Credits")), value=format_credits(job.credits_consumed))
    if took is not None:
        embed.add_field(name=lang(_("Time")), value=lang(_("{seconds:.0f} s", seconds=took)))
    if edited:
        _show_references(embed, job, lang)
    if part.originals:
        links = " ".join(f"[#{n}]({url})" for n, url in sorted(part.originals.items()))
        embed.add_field(
            name=lang(_("Full resolution (shrunk to fit Discord)")),
            value=truncate(links, 1024),
            inline=False,
        )
    return embed


def _show_references(embed: discord.Embed, job: Job, lang: Lang) -> None:
    """Link each reference image (as many as fit a field) and preview the first."""
    references = job.options.references
    links: list[str] = []
    for reference in references:
        # A member's file name: short, and no markdown of its own.
        short = truncate(_LINK_UNSAFE.sub("-", reference.filename), 40)
        label = discord.utils.escape_markdown(short)
        link = f"[{label}]({reference.url})"
        if len(" · ".join([*links, link])) > FIELD_MAX:
            break
        links.append(link)
    name = ngettext("Reference image", "Reference images", len(references))
    embed.add_field(name=lang(name), value=" · ".join(links) or "—", inline=False)
    first = references[0]
    embed.set_thumbnail(url=first.proxy_url or first.url)


def failure_embed(job: Job, message: Text, *, lang: Lang = ENGLISH) -> discord.Embed:
    """Return the embed telling the requester why a job failed."""
    embed = discord.Embed(
        title=lang(_("Couldn't imagine that")), description=lang(message), colour=COLOUR_FAILED
    )
    embed.add_field(name=lang(_("Prompt")), value=truncate(job.options.prompt, 1000), inline=False)
    return embed


def cancelled_embed(job: Job, *, lang: Lang = ENGLISH) -> discord.Embed:
    """Return the embed for a cancelled job."""
    embed = discord.Embed(
        title=lang(_("Cancelled")),
        description=lang(_("Nothing was charged to your quota.")),
        colour=COLOUR_CANCELLED,
    )
    embed.add_field(name=lang(_("Prompt")), value=truncate(job.options.prompt, 1000), inline=False)
    return embed
