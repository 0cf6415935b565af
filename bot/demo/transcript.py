"""Turn a channel snapshot into one self-contained HTML page that looks like Discord.

Jinja2 fills `templates/transcript.html` (CSS inline); every picture is a `data:` URI (the
attachments' own bytes, avatars drawn by `avatars.py`), so the file opens anywhere, offline,
and fetches nothing. A link or embed picture pointing elsewhere is not loaded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2
from markupsafe import Markup

from bot.demo import markdown
from bot.demo.avatars import avatar_uri, data_uri
from bot.demo.snapshot import Channel, File, Message, Person

__all__ = ["render_transcript"]

BUTTON_STYLES = {1: "primary", 2: "secondary", 3: "success", 4: "danger", 5: "link"}
DEFAULT_EMBED_COLOUR = "#1e1f22"

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("bot.demo", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _avatar(person: Person) -> str:
    return avatar_uri(person.id, person.name, person.bot)


def _colour(embed: dict[str, Any]) -> str:
    colour = embed.get("color")
    return DEFAULT_EMBED_COLOUR if colour is None else f"#{int(colour):06x}"


def _rows(embed: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Group an embed's fields into rows as Discord lays them out (up to 3 inline a row)."""
    rows: list[list[dict[str, Any]]] = []
    for f in embed.get("fields") or []:
        if f.get("inline") and rows and rows[-1][-1].get("inline") and len(rows[-1]) < 3:
            rows[-1].append(f)
        else:
            rows.append([f])
    return rows


def _image_uri(file: File) -> str | None:
    return (
        data_uri(file.data, file.content_type) if file.content_type.startswith("image/") else None
    )


def _buttons(message: Message) -> list[list[dict[str, Any]]]:
    rows = []
    for row in message.components:
        buttons = []
        for c in row.get("components") or []:
            if c.get("type") != 2:
                continue
            emoji = (
                (c.get("emoji") or {}).get("name") if not (c.get("emoji") or {}).get("id") else None
            )
            buttons.append(
                {
                    "label": c.get("label") or "",
                    "emoji": emoji,
                    "style": BUTTON_STYLES.get(int(c.get("style", 2)), "secondary"),
                    "disabled": bool(c.get("disabled")),
                }
            )
        if buttons:
            rows.append(buttons)
    return rows


def render_transcript(channel: Channel, *, title: str = "Transcript") -> str:
    """Return the whole HTML page for the channel."""
    now = channel.taken

    def names(kind: str, ident: int) -> str | None:
        return channel.names.get((kind, ident))

    def md(text: str | None) -> Markup:
        return markdown.render(text or "", names=names, now=now)

    def clock(ts: float) -> str:
        # A date, not Discord's "Today at": the file is read on other days too.
        return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%Y %H:%M UTC")

    taken = datetime.fromtimestamp(now, UTC)
    template = _environment.get_template("transcript.html")
    return template.render(
        title=title,
        channel=channel,
        written=taken.strftime("%d %B %Y, %H:%M UTC"),
        md=md,
        clock=clock,
        avatar=_avatar,
        embed_colour=_colour,
        field_rows=_rows,
        image_uri=_image_uri,
        buttons=_buttons,
    )
