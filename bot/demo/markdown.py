"""The part of Discord's message markdown the bot writes, as HTML (escaped first, always).

Bold, italics, underline, strike-through, inline code, `[label](url)` links, mentions of
members, roles and channels, and `<t:…>` timestamps (shown relative to when the transcript
was written, the exact UTC time on hover).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from markupsafe import Markup, escape

__all__ = ["Names", "relative_time", "render"]

Names = Callable[[str, int], str | None]

_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_UNDERLINE = re.compile(r"__(.+?)__", re.S)
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)")
_STRIKE = re.compile(r"~~(.+?)~~", re.S)
# After escaping, "<" and ">" are "&lt;" and "&gt;".
_MENTION = re.compile(r"&lt;(@!?|@&amp;|#)(\d+)&gt;")
_TIMESTAMP = re.compile(r"&lt;t:(-?\d+)(?::([tTdDfFR]))?&gt;")


def relative_time(when: float, now: float) -> str:
    """Return "in 12 seconds" / "3 minutes ago", as Discord shows a `:R` timestamp."""
    delta = when - now
    seconds = abs(delta)
    if seconds < 1.5:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            n = max(1, round(seconds / size)) if unit != "second" else round(seconds)
            words = f"{n} {unit}{'' if n == 1 else 's'}"
            return f"in {words}" if delta > 0 else f"{words} ago"
    raise AssertionError("unreachable")


def _timestamp(match: re.Match[str], now: float) -> str:
    when = int(match[1])
    exact = datetime.fromtimestamp(when, UTC)
    title = exact.strftime("%A %d %B %Y %H:%M:%S UTC")
    style = match[2] or "f"
    if style == "R":
        shown = relative_time(when, now)
    elif style in "tT":
        shown = exact.strftime("%H:%M" if style == "t" else "%H:%M:%S")
    elif style in "dD":
        shown = exact.strftime("%d/%m/%Y" if style == "d" else "%d %B %Y")
    else:
        shown = exact.strftime("%d %B %Y %H:%M")
    return f'<span class="timestamp" title="{title}">{shown}</span>'


def _mention(match: re.Match[str], names: Names) -> str:
    kind = {"@": "user", "@!": "user", "@&amp;": "role", "#": "channel"}[match[1]]
    name = names(kind, int(match[2]))
    prefix = "#" if kind == "channel" else "@"
    shown = escape(name) if name is not None else f"unknown-{kind}"
    return f'<span class="mention">{prefix}{shown}</span>'


def render(text: str, *, names: Names, now: float) -> Markup:
    """Return `text` (Discord markdown) as safe HTML."""
    html = str(escape(text))
    # Code spans first, kept aside so nothing inside them is formatted.
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(f"<code>{match[1]}</code>")
        return f"\x00{len(spans) - 1}\x00"

    html = _CODE.sub(keep, html)
    html = _LINK.sub(r'<a href="\2" rel="noreferrer">\1</a>', html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = _UNDERLINE.sub(r"<u>\1</u>", html)
    html = _ITALIC.sub(lambda m: f"<em>{m[1] or m[2]}</em>", html)
    html = _STRIKE.sub(r"<s>\1</s>", html)
    html = _MENTION.sub(lambda m: _mention(m, names), html)
    html = _TIMESTAMP.sub(lambda m: _timestamp(m, now), html)
    html = re.sub("\x00(\\d+)\x00", lambda m: spans[int(m[1])], html)
    return Markup(html.replace("\n", "<br>"))  # noqa: S704 - built from escaped text above
