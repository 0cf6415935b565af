"""Pure text and embed builders for /imagine-admin replies (no I/O).

Everything shown here fits Discord's limits by construction: confirmations are short lines
(well under 2000 characters), and lists that can grow (blocklist, quotas) are cut to one
embed description with a count of what was left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import discord

from bot.control import ChannelSettings, Mode, QuotaLimit, UsageReport, is_allowed
from bot.control.blocklist import REGEX_PREFIX
from bot.credits import format_credits
from bot.kie import ImageSize
from cogs._common import SIZE_NAMES, plural, truncate

__all__ = [
    "CLEAR_FALLBACK",
    "DESCRIPTION_LIMIT",
    "blocklist_embed",
    "blocklist_text",
    "channel_change_lines",
    "channel_embed",
    "code",
    "enabled_text",
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

MODE_MEANING: dict[str, str] = {
    "open": "in every channel unless disabled there",
    "allowlist": "only in channels enabled with `/imagine-admin channel enable`",
}

# What a member falls back to when a limit of this kind is cleared.
CLEAR_FALLBACK: dict[str, str] = {
    "default": "members without a role or member limit are unlimited",
    "role": "its members fall back to their other roles' limits, else the default",
    "member": "their roles' limits, else the default, apply",
    "channel": "the channel has no total",
    "server": "the server has no total",
}


def code(text: str) -> str:
    """Show admin-typed text literally as inline code, even if it holds backticks."""
    if "`" in text:
        # Double backticks allow single ones inside; a zero-width space breaks up any pair.
        inner = text.replace("``", "`\u200b`")
        return f"`` {inner} ``"
    return f"`{text}`"


def limit_text(value: dict[str, Any] | QuotaLimit | None) -> str:
    """Return a limit as "5 images per day", "not allowed (0)" or "not set"."""
    if value is None:
        return "not set"
    if isinstance(value, QuotaLimit):
        value = value.to_dict()
    limit, period = int(value["limit"]), value["period"]
    if limit == 0:
        return "0 (not allowed)"
    return f"{plural(limit)} per {period}"


def quota_owner(kind: str, target_id: int | None) -> str:
    """Return whose limit this is, as readers see it (mentions don't ping in ephemerals)."""
    if kind == "default":
        return "Default limit (every member)"
    if kind == "server":
        return "Server total"
    if kind == "role":
        return f"<@&{target_id}>'s limit"
    if kind == "member":
        return f"<@{target_id}>'s limit"
    return f"<#{target_id}>'s total"


def mode_text(old: str | None, new: str) -> str:
    """Return the confirmation of a mode change."""
    line = f"Mode: **{old or 'open'}** → **{new}**: /imagine works {MODE_MEANING[new]}."
    if old == new:
        line += " (It already was.)"
    return line


def _size(value: Any) -> str:
    return SIZE_NAMES[ImageSize(value)]


_CHANNEL_FIELDS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("enabled", "/imagine", lambda v: "enabled" if v else "disabled"),
    ("image_size", "Default size", _size),
    ("resolution", "Default resolution", str),
    ("images", "Default images", str),
    ("max_resolution", "Max resolution", str),
    ("max_images", "Max images", str),
    ("safety", "Safety filter", lambda v: "on" if v else "off (images posted as spoilers)"),
)
_UNSET = {
    "enabled": "follows the mode",
    "max_resolution": "no cap",
    "max_images": "no cap",
    "safety": "on (default)",
}


def enabled_text(value: bool | None) -> str:
    """Return a channel's own on/off value as admins read it."""
    return _channel_value("enabled", value, _CHANNEL_FIELDS[0][2])


def _channel_value(name: str, value: Any, show: Callable[[Any], str]) -> str:
    return _UNSET.get(name, "default") if value is None else show(value)


def channel_change_lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Return "Default size: default → Landscape 16:9" for each value that changed."""
    return [
        f"{label}: {_channel_value(name, old.get(name), show)} → "
        f"**{_channel_value(name, new.get(name), show)}**"
        for name, label, show in _CHANNEL_FIELDS
        if old.get(name) != new.get(name)
    ]


def _allowed_line(settings: ChannelSettings, mode: Mode) -> str:
    refusal = is_allowed(settings, mode)
    return refusal or "Members can use /imagine here."


def channel_embed(
    channel: discord.abc.GuildChannel,
    settings: ChannelSettings,
    mode: Mode,
    *,
    channel_is_nsfw: bool,
    quota: QuotaLimit | None,
) -> discord.Embed:
    """Return what applies in one channel once defaults and the guild's mode are merged."""
    embed = discord.Embed(
        title=truncate(f"#{channel.name}", 256),
        description=f"{channel.mention} · mode **{mode}**\n{_allowed_line(settings, mode)}",
        colour=COLOUR,
    )
    status = {None: "follows the mode", True: "enabled", False: "disabled"}[settings.enabled]
    embed.add_field(name="This channel", value=status)
    embed.add_field(name="Default size", value=_size(settings.image_size))
    embed.add_field(name="Default resolution", value=settings.resolution)
    embed.add_field(name="Default images", value=str(settings.images))
    embed.add_field(name="Max resolution", value=settings.max_resolution or "no cap")
    embed.add_field(name="Max images", value=str(settings.max_images or "no cap"))
    if settings.safety:
        safety = "on"
    elif settings.safety_for(channel_is_nsfw):
        safety = "set off, but on while the channel isn't age-restricted"
    else:
        safety = "off (images posted as spoilers)"
    embed.add_field(name="Safety filter", value=safety)
    embed.add_field(name="Channel quota", value=limit_text(quota) if quota else "none")
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


def quotas_embed(limits: Sequence[QuotaLimit]) -> discord.Embed:
    """Return every limit set in the guild, grouped by kind."""
    embed = discord.Embed(title="Quotas", colour=COLOUR)
    if not limits:
        embed.description = "No limits are set: every member may generate without limit."
    else:
        ordered = sorted(limits, key=lambda q: (_SHOW_ORDER.index(q.kind), q.target_id or 0))
        lines = [f"{quota_owner(q.kind, q.target_id)}: {limit_text(q)}" for q in ordered]
        text, left_out = _cut_lines(lines)
        embed.description = text + (f"\n… and {left_out} more" if left_out else "")
    embed.set_footer(
        text="A member's limit is their own, else their most generous role's, else the "
        "default; channel and server totals apply on top. Periods are UTC calendar days, "
        "weeks (from Monday) and months."
    )
    return embed


def blocklist_text(entries: Sequence[str]) -> str:
    """Return the whole blocklist as plain text, one entry a line (for the attachment)."""
    return "".join(f"{entry}\n" for entry in entries)


def blocklist_embed(entries: Sequence[str]) -> tuple[discord.Embed, bool]:
    """Return the blocklist embed, and whether entries were left out (attach the full list)."""
    regexes = sum(1 for e in entries if e.startswith(REGEX_PREFIX))
    embed = discord.Embed(
        title=f"Blocklist ({plural(len(entries), 'entry', 'entries')})",
        colour=COLOUR,
    )
    if not entries:
        embed.description = (
            "The blocklist is empty. Add a word, a phrase or an `re:` regular expression with "
            "`/imagine-admin blocklist add`."
        )
        return embed, False
    text, left_out = _cut_lines([code(e) for e in entries])
    if left_out:
        text += f"\n… and {left_out} more: the full list is attached."
    embed.description = text
    embed.set_footer(
        text=f"{len(entries) - regexes} words or phrases, {regexes} regular expressions. "
        "Words match whole words in any case; re: entries are regular expressions."
    )
    return embed, bool(left_out)


def reset_text(member_id: int, old: dict[str, int]) -> str:
    """Return the confirmation of a member's usage reset."""
    if not old:
        return f"<@{member_id}> has no counted usage this day, week or month; nothing to reset."
    parts = ", ".join(f"this {period} {used} → **0**" for period, used in old.items())
    return f"<@{member_id}>'s counted images reset: {parts}."


def usage_embed(report: UsageReport, chart: str | None = None) -> discord.Embed:
    """Return a period's images, credits, jobs and top members.

    `chart` is the file name of the attached chart, shown as the embed's image. An empty period
    has no chart and says so; a period with usage but no chart had it fail to draw.
    """
    description = (
        f"From <t:{report.start}:f> until now (UTC calendar {report.period}; "
        f"the next starts <t:{report.end}:R>)."
    )
    if report.is_empty:
        description += (
            f"\nNo chart: no images were delivered and no credits spent this {report.period}."
        )
    elif chart is None:
        description += "\nThe chart could not be drawn this time; the figures below are exact."
    embed = discord.Embed(
        title=f"Usage this {report.period}", description=description, colour=COLOUR
    )
    embed.add_field(name="Images delivered", value=str(report.images))
    embed.add_field(name="Credits spent", value=format_credits(report.credits))
    failed = f" ({report.failed_jobs} failed)" if report.failed_jobs else ""
    embed.add_field(name="Jobs finished", value=f"{report.jobs}{failed}")
    if report.top_members:
        lines = [
            f"{rank}. <@{m.user_id}>: {plural(m.images)}, {format_credits(m.credits)} credits"
            for rank, m in enumerate(report.top_members, start=1)
        ]
        top = "\n".join(lines)
    else:
        top = "Nobody generated images in this period."
    embed.add_field(name="Top members", value=truncate(top, 1024), inline=False)
    if chart is not None:
        embed.set_image(url=f"attachment://{chart}")
    return embed
