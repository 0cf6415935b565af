"""Avatars drawn here (initials on a colour), so the transcript fetches nothing from anywhere."""

from __future__ import annotations

import base64
import functools
import io
import zlib

from PIL import Image, ImageDraw, ImageFont

__all__ = ["avatar_uri", "data_uri"]

SIZE = 80  # drawn at twice the 40 px it is shown at, for sharp edges on dense screens
# Discord's default avatar colours for members; its blurple only for the bot.
COLOURS = ("#757e8a", "#3ba55c", "#faa61a", "#ed4245", "#eb459f", "#00a8fc")
BOT_COLOUR = "#5865f2"


def data_uri(data: bytes, content_type: str) -> str:
    """Return the bytes as a `data:` URI."""
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _initials(name: str) -> str:
    words = [w for w in name.replace("_", " ").split() if w]
    letters = "".join(w[0] for w in words[:2]) or "?"
    return letters.upper()


@functools.lru_cache(maxsize=64)
def avatar_uri(user_id: int, name: str, bot: bool = False) -> str:
    """Return a round PNG avatar with the name's initials, its colour chosen by the name.

    By the name, not the id: ids differ every run, and the README's pictures should not.
    """
    colour = BOT_COLOUR if bot else COLOURS[zlib.crc32(name.encode()) % len(COLOURS)]
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((0, 0, SIZE - 1, SIZE - 1), fill=colour)
    text = _initials(name)
    size = SIZE * 2 // 5 if len(text) == 1 else SIZE // 3
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow built without FreeType: the small bitmap font
        font = ImageFont.load_default()
    draw.text((SIZE / 2, SIZE / 2), text, fill="white", font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return data_uri(out.getvalue(), "image/png")
