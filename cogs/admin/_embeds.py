"""Pure text and embed builders for /imagine-admin replies (no I/O).

Everything shown here fits Discord's limits by construction: confirmations are short lines
(well under 2000 characters), and lists that can grow (blocklist, quotas) are cut to one
embed description with a count of what was left out. Words are bot/i18n `Text`: builders
that return an embed take the reader's `lang`; the others return `Text` for the caller to
render.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import discord

from bot.control import ChannelSettings, Mode, QuotaLimit, UsageReport, is_allowed
from bot.control.blocklist import REGEX_PREFIX
from bot.control.periods import PER_PERIOD, THIS_PERIOD
from bot.credits import format_credits
from bot.i18n import ENGLISH, Lang, Text, _, ngettext
from bot.kie import ImageSize
from cogs._common import SIZE_NAMES, truncate

__all__ = [
    "CLEAR_FALLBACK",
    "DESCRIPTION_LIMIT",
    "blocklist_embed",
    "blocklist_text",
    "channel_change_lines",
    "channel_embed",
    "code",
    "enabled_text",
    "entry_count",
    "limit_text",
    "mode_text",
    "quota_owner",
    "quotas_embed",
    "reset_text",
    "usage_embed",
]

COLOUR = discord.Colour.blurple()
# Embed descriptions may hold 4096 characters; stay a little under for the "… and N more" tail.
DESCRIPTION_LIMIT = 4000

MODE_MEANING: dict[str, Text] = {
    "open": _("in every channel unless disabled there"),
    "allowlist": _("only in channels enabled with `/imagine-admin channel enable`"),
}
MODE_NAMES: dict[str, Text] = {"open": _("open"), "allowlist": _("allowlist")}

# What a member falls back to when a limit of this kind is cleared.
CLEAR_FALLBACK: dict[str, Text] = {
    "default": _("members without a role or member limit are unlimited"),
    "role": _("its members fall back to their other roles' limits, else the default"),
    "member": _("their roles' limits, else the default, apply"),
    "channel": _("the channel has no total"),
    "server": _("the server has no total"),
}


def code(text: str) -> str:
    """Show admin-typed text literally as inline code, even if it holds backticks."""
    if "`" in text:
        # Double backticks allow single ones inside; a zero-width space breaks up any pair.
        inner = text.replace("``", "`\u200b`")
        return f"`` {inner} ``"
    return f"`{text}`"


def limit_text(value: dict[str, Any] | QuotaLimit | None) -> Text:
    """Return a limit as "5 images per day", "0 (not allowed)" or "not set"."""
    if value is None:
        return _("not set")
    if isinstance(value, QuotaLimit):
        value = value.to_dict()
    limit, period = int(value["limit"]), value["period"]
    if limit == 0:
        return _("0 (not allowed)")
    return ngettext(
        "{n} image {per_period}", "{n} images {per_period}", limit, per_period=PER_PERIOD[period]
    )


def quota_owner(kind: str, target_id: int | None) -> Text:
    """Return whose limit this is, as readers see it (mentions don't ping in ephemerals)."""
    if kind == "default":
        return _("Default limit (every member)")
    if kind == "server":
        return _("Server total")
    if kind == "role":
        return _("{role}'s limit", role=f"<@&{target_id}>")
    if kind == "member":
        return _("{member}'s limit", member=f"<@{target_id}>")
    return _("{channel}'s total", channel=f"<#{target_id}>")


def mode_text(old: str | None, new: str) -> Text:
    """Return the confirmation of a mode change."""
    fields = {
        "old": MODE_NAMES.get(old or "open", old or "open"),
        "new": MODE_NAMES.get(new, new),
        "meaning": MODE_MEANING[new],
    }
    if old == new:
        return _(
            "Mode: **{old}** → **{new}**: /imagine works {meaning}. (It already was.)", **fields
        )
    return _("Mode: **{old}** → **{new}**: /imagine works {meaning}.", **fields)


def _size(value: Any) -> Text:
    return SIZE_NAMES[ImageSize(value)]


# A value that reads the same in every language (a number, "2K") is shown as it is.
_CHANNEL_FIELDS: tuple[tuple[str, Text, Callable[[Any], Text | str]], ...] = (
    ("enabled", _("/imagine"), lambda v: _("enabled") if v else _("disabled")),
    ("image_size", _("Default size"), _size),
    ("resolution", _("Default resolution"), str),
    ("images", _("Default images"), str),
    ("max_resolution", _("Max resolution"), str),
    ("max_images", _("Max images"), str),
    (
        "safety",
        _("Safety filter"),
        lambda v: _("on") if v else _("off (images posted as spoilers)"),
    ),
)
_UNSET = {
    "enabled": _("follows the mode"),
    "max_resolution": _("no cap"),
    "max_images": _("no cap"),
    "safety": _("on (default)"),
}


def enabled_text(value: bool | None) -> Text | str:
    """Return a channel's own on/off value as admins read it."""
    return _channel_value("enabled", value, _CHANNEL_FIELDS[0][2])


def _channel_value(name: str, value: Any, show: Callable[[Any], Text | str]) -> Text | str:
    return _UNSET.get(name, _("default")) if value is None else show(value)


def channel_change_lines(old: dict[str, Any], new: dict[str, Any]) -> list[Text]:
    """Return "Default size: default → Landscape 16:9" for each value that changed."""
    return [
        _(
            "{setting}: {old} → **{new}**",
            setting=label,
            old=_channel_value(name, old.get(name), show),
            new=_channel_value(name, new.get(name), show),
        )
        for name, label, show in _CHANNEL_FIELDS
        if old.get(name) != new.get(name)
    ]


def _allowed_line(settings: ChannelSettings, mode: Mode) -> Text:
    refusal = is_allowed(settings, mode)
    return refusal or _("Members can use /imagine here.")


def channel_embed(
    channel: discord.abc.GuildChannel,
    settings: ChannelSettings,
    mode: Mode,
    *,
    channel_is_nsfw: bool,
    quota: QuotaLimit | None,
    lang: Lang = ENGLISH,
) -> discord.Embed:
    """Return what applies in one channel once defaults and the guild's mode are merged."""
    description = _(
        "{channel} · mode **{mode}**\n{allowed}",
        channel=channel.mention,
        mode=MODE_NAMES.get(mode, mode),
        allowed=_allowed_line(settings, mode),
    )
    embed = discord.Embed(
        title=truncate(f"#{channel.name}", 256), description=lang(description), colour=COLOUR
    )
    status = {None: _("follows the mode"), True: _("enabled"), False: _("disabled")}
    no_cap = lang(_("no cap"))
    embed.add_field(name=lang(_("This channel")), value=lang(status[settings.enabled]))
    embed.add_field(name=lang(_("Default size")), value=lang(_size(settings.image_size)))
    embed.add_field(name=lang(_("Default resolution")), value=settings.resolution)
    embed.add_field(name=lang(_("Default images")), value=str(settings.images))
    embed.add_field(name=lang(_("Max resolution")), value=settings.max_resolution or no_cap)
    embed.add_field(name=lang(_("Max images")), value=str(settings.max_images or no_cap))
    if settings.safety:
        safety = _("on")
    elif settings.safety_for(channel_is_nsfw):
        safety = _("set off, but on while the channel isn't age-restricted")
    else:
        safety = _("off (images posted as spoilers)")
    embed.add_field(name=lang(_("Safety filter")), value=lang(safety))
    embed.add_field(
        name=lang(_("Channel quota")), value=lang(limit_text(quota) if quota else _("none"))
    )
    return embed


def _cut_lines(lines: Sequence[str], limit: int = DESCRIPTION_LIMIT) -> tuple[str, int]:
    """Join as many whole lines as fit in `limit`; return the text and how many were left out.

    `limit` leaves room for the caller's "… and N more" tail under the 4096 of a description.
    """
    out: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out), len(lines) - len(out)


# Guild-wide limits first, then the targeted ones.
_SHOW_ORDER = ("default", "server", "role", "member", "channel")


def quotas_embed(limits: Sequence[QuotaLimit], *, lang: Lang = ENGLISH) -> discord.Embed:
    """Return every limit set in the guild, grouped by kind."""
    embed = discord.Embed(title=lang(_("Quotas")), colour=COLOUR)
    if not limits:
        embed.description = lang(_("No limits are set: every member may generate without limit."))
    else:
        ordered = sorted(limits, key=lambda q: (_SHOW_ORDER.index(q.kind), q.target_id or 0))
        lines = [
            lang(_("{owner}: {limit}", owner=quota_owner(q.kind, q.target_id), limit=limit_text(q)))
            for q in ordered
        ]
        text, left_out = _cut_lines(lines)
        more = "\n" + lang(_("… and {count} more", count=left_out)) if left_out else ""
        embed.description = text + more
    embed.set_footer(
        text=lang(
            _(
                "A member's limit is their own, else their most generous role's, else the "
                "default; channel and server totals apply on top. Periods are UTC calendar "
                "days, weeks (from Monday) and months."
            )
        )
    )
    return embed


def blocklist_text(entries: Sequence[str]) -> str:
    """Return the whole blocklist as plain text, one entry a line (for the attachment)."""
    return "".join(f"{entry}\n" for entry in entries)


def entry_count(count: int) -> Text:
    """Return "1 entry" / "3 entries"."""
    return ngettext("{n} entry", "{n} entries", count)


def blocklist_embed(entries: Sequence[str], *, lang: Lang = ENGLISH) -> tuple[discord.Embed, bool]:
    """Return the blocklist embed, and whether entries were left out (attach the full list)."""
    regexes = sum(1 for e in entries if e.startswith(REGEX_PREFIX))
    embed = discord.Embed(
        title=lang(_("Blocklist ({count})", count=entry_count(len(entries)))), colour=COLOUR
    )
    if not entries:
        embed.description = lang(
            _(
                "The blocklist is empty. Add a word, a phrase or an `re:` regular expression "
                "with `/imagine-admin blocklist add`."
            )
        )
        return embed, False
    text, left_out = _cut_lines([code(e) for e in entries])
    if left_out:
        text += "\n" + lang(_("… and {count} more: the full list is attached.", count=left_out))
    embed.description = text
    words = ngettext("{n} word or phrase", "{n} words or phrases", len(entries) - regexes)
    expressions = ngettext("{n} regular expression", "{n} regular expressions", regexes)
    embed.set_footer(
        text=lang(
            _(
                "{words}, {expressions}. Words match whole words in any case; re: entries are "
                "regular expressions.",
                words=words,
                expressions=expressions,
            )
        )
    )
    return embed, bool(left_out)


def reset_text(member_id: int, old: dict[str, int]) -> Text:
    """Return the confirmation of a member's usage reset."""
    if not old:
        return _(
            "{member} has no counted usage this day, week or month; nothing to reset.",
            member=f"<@{member_id}>",
        )
    # One "this week 3 → **0**" per period, joined as the reader's language lists things.
    parts = [
        _("{this_period} {used} → **0**", this_period=THIS_PERIOD[period], used=used)
        for period, used in old.items()
    ]
    return _("{member}'s counted images reset: {periods}.", member=f"<@{member_id}>", periods=parts)


_SINCE = {
    "day": _("From {start} until now (UTC calendar day; the next starts {next})."),
    "week": _("From {start} until now (UTC calendar week; the next starts {next})."),
    "month": _("From {start} until now (UTC calendar month; the next starts {next})."),
}


def usage_embed(
    report: UsageReport, chart: str | None = None, *, lang: Lang = ENGLISH
) -> discord.Embed:
    """Return a period's images, credits, jobs and top members.

    `chart` is the file name of the attached chart, shown as the embed's image. An empty period
    has no chart and says so; a period with usage but no chart had it fail to draw.
    """
    this_period = THIS_PERIOD[report.period]
    description = lang(
        _SINCE[report.period].with_params(start=f"<t:{report.start}:f>", next=f"<t:{report.end}:R>")
    )
    if report.is_empty:
        description += "\n" + lang(
            _(
                "No chart: no images were delivered and no credits spent {this_period}.",
                this_period=this_period,
            )
        )
    elif chart is None:
        description += "\n" + lang(
            _("The chart could not be drawn this time; the figures below are exact.")
        )
    embed = discord.Embed(
        title=lang(_("Usage {this_period}", this_period=this_period)),
        description=description,
        colour=COLOUR,
    )
    embed.add_field(name=lang(_("Images delivered")), value=str(report.images))
    embed.add_field(name=lang(_("Credits spent")), value=format_credits(report.credits))
    jobs = str(report.jobs)
    if report.failed_jobs:
        jobs = lang(_("{jobs} ({failed} failed)", jobs=report.jobs, failed=report.failed_jobs))
    embed.add_field(name=lang(_("Jobs finished")), value=jobs)
    if report.top_members:
        lines = [
            lang(
                ngettext(
                    "{rank}. {member}: {n} image, {credits} credits",
                    "{rank}. {member}: {n} images, {credits} credits",
                    m.images,
                    rank=rank,
                    member=f"<@{m.user_id}>",
                    credits=format_credits(m.credits),
                )
            )
            for rank, m in enumerate(report.top_members, start=1)
        ]
        top = "\n".join(lines)
    else:
        top = lang(_("Nobody generated images in this period."))
    embed.add_field(name=lang(_("Top members")), value=truncate(top, 1024), inline=False)
    if chart is not None:
        embed.set_image(url=f"attachment://{chart}")
    return embed
