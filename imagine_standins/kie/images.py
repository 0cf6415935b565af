"""Result images for the kie.ai stand-in: real JPEGs at the guessed Seedream sizes.

kie documents a single output size (landscape_4_3 at 4K is 4096 x 3072). The others are a
GUESS that fits it: the long edge is 1024/2048/4096 for 1K/2K/4K and the short edge is the
long edge divided by the ratio, rounded. Nothing should rely on them being exactly kie's.
"""

from __future__ import annotations

import asyncio
import colorsys
import functools
import io
import math
import random
import struct

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "LARGE_MIN_BYTES",
    "ImageCache",
    "image_dimensions",
    "read_stamp",
    "render_image",
    "stamp_image",
]

LONG_EDGE = {"1K": 1024, "2K": 2048, "4K": 4096}
# (width, height) ratio per image_size.
RATIOS = {
    "square": (1, 1),
    "square_hd": (1, 1),
    "portrait_4_3": (3, 4),
    "portrait_3_2": (2, 3),
    "portrait_16_9": (9, 16),
    "landscape_4_3": (4, 3),
    "landscape_3_2": (3, 2),
    "landscape_16_9": (16, 9),
    "landscape_21_9": (21, 9),
}
LARGE_MIN_BYTES = 4 * 1024 * 1024
_LARGE_TARGET = 5 * 1024 * 1024
_JPEG_COMMENT_MAX = 65533
# How much of a prompt is drawn: enough to recognise it.
PROMPT_CHARS = 160
PROMPT_LINES = 4


def image_dimensions(image_size: str, resolution: str) -> tuple[int, int]:
    """Return the guessed (width, height) for an image_size and resolution."""
    long_edge = LONG_EDGE[resolution]
    rw, rh = RATIOS[image_size]
    if rw >= rh:
        return long_edge, round(long_edge * rh / rw)
    return round(long_edge * rw / rh), long_edge


def _colour(index: int, image_size: str, shift: float = 0.0) -> tuple[int, int, int]:
    """Pick a distinct, saturated colour per image index (``shift``: a neighbouring hue)."""
    hue = (index * 0.161 + sum(map(ord, image_size)) * 0.013 + shift) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def _gradient(
    width: int, height: int, colour: tuple[int, int, int], other: tuple[int, int, int]
) -> Image.Image:
    """Draw a diagonal gradient from one colour to the other, with soft rings.

    Drawn at 64 x 64 and scaled up, so any size costs about the same. The rings are faint:
    an image's look (its colours at a glance) stays that of its index.
    """
    small = Image.new("RGB", (64, 64))
    px = small.load()
    assert px is not None
    for y in range(64):
        for x in range(64):
            t = (x + y) / 126
            ring = 0.08 * math.cos(math.hypot(x - 20, y - 22) / 3.2)
            px[x, y] = tuple(
                max(0, min(255, int((a * (1 - t) + b * t) * (1 + ring))))
                for a, b in zip(colour, other, strict=True)
            )
    return small.resize((width, height), Image.Resampling.BILINEAR)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow built without FreeType: the small bitmap font
        return ImageFont.load_default()


def _label(img: Image.Image, text: str) -> None:
    """Write the image's label (index, size, resolution) in the top left corner."""
    draw = ImageDraw.Draw(img)
    size = max(12, min(img.size) // 16)
    draw.text(
        (size // 2, size // 2),
        text,
        fill=(255, 255, 255),
        font=_font(size),
        stroke_width=max(1, size // 24),
        stroke_fill=(0, 0, 0),
    )


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    width: float,
) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines[:PROMPT_LINES]


def _prompt(img: Image.Image, prompt: str) -> None:
    """Write the prompt across the middle, wrapped, as a caption a reader can match up."""
    if not prompt.strip():
        return
    draw = ImageDraw.Draw(img)
    width, height = img.size
    size = max(12, min(width, height) // 14)
    font = _font(size)
    lines = _wrap(draw, prompt[:PROMPT_CHARS], font, width * 0.8)
    spacing = size // 4
    block = len(lines) * size + (len(lines) - 1) * spacing
    y = (height - block) / 2
    for line in lines:
        draw.text(
            (width / 2, y + size / 2),
            line,
            fill=(255, 255, 255),
            font=font,
            anchor="mm",
            stroke_width=max(1, size // 20),
            stroke_fill=(0, 0, 0),
        )
        y += size + spacing


def _pad_jpeg(data: bytes, minimum: int) -> bytes:
    """Grow a JPEG with comment segments (still a valid JPEG) to at least ``minimum`` bytes."""
    chunks = []
    missing = minimum - len(data)
    while missing > 0:
        n = min(_JPEG_COMMENT_MAX, missing)
        chunks.append(b"\xff\xfe" + struct.pack(">H", n + 2) + b"\0" * n)
        missing -= n + 4
    return data[:2] + b"".join(chunks) + data[2:]


_STAMP = b"kie-result "


def stamp_image(data: bytes, task_id: str, index: int) -> bytes:
    """Return the JPEG with a comment naming its task and 0-based index (still valid).

    Real kie files differ per task; the rendered ones are shared between tasks of the same
    shape, so the stamp makes every served file unique and traceable to what kie made.
    """
    text = _STAMP + f"{task_id} {index}".encode()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + data[2:]


def read_stamp(data: bytes) -> tuple[str, int] | None:
    """Return (task id, index) from a file ``stamp_image`` made, or None (e.g. re-encoded)."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more headers
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xFE and segment.startswith(_STAMP):
            task_id, _, index = segment[len(_STAMP) :].decode("ascii").partition(" ")
            return task_id, int(index)
        pos += 2 + length
    return None


@functools.lru_cache(maxsize=48)
def render_image(
    image_size: str, resolution: str, index: int, large: bool = False, prompt: str = ""
) -> bytes:
    """Render result image ``index`` as JPEG bytes; ``large`` makes it at least 4 MiB.

    A gradient in the index's colours with the ``prompt`` written across it, so a result
    reads as the answer to its prompt; the label in the corner names index, size and
    resolution.
    """
    width, height = image_dimensions(image_size, resolution)
    img = _gradient(
        width, height, _colour(index, image_size), _colour(index, image_size, shift=0.22)
    )
    if large:
        # Noise does not compress, so it makes the file big; a band of it keeps 4K sane.
        rng = random.Random(f"{image_size}/{resolution}/{index}")
        rows = min(height, -(-_LARGE_TARGET // int(width * 1.15)))
        band = Image.frombytes("RGB", (width, rows), rng.randbytes(width * rows * 3))
        img.paste(band, (0, height - rows))
    _prompt(img, prompt)
    _label(img, f"#{index} {image_size} {resolution}")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95 if large else 85)
    data = out.getvalue()
    if large and len(data) < LARGE_MIN_BYTES:
        out = io.BytesIO()
        img.save(out, "JPEG", quality=100, subsampling=0)
        data = _pad_jpeg(out.getvalue(), LARGE_MIN_BYTES + 64 * 1024)
    return data


class ImageCache:
    """Render images in a worker thread, once per (size, resolution, index, mode, prompt)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str, int, bool, str], asyncio.Future[bytes]] = {}

    async def get(
        self, image_size: str, resolution: str, index: int, large: bool, prompt: str = ""
    ) -> bytes:
        """Return the image bytes, rendering them off the event loop the first time."""
        key = (image_size, resolution, index, large, prompt)
        fut = self._pending.get(key)
        if fut is None:
            fut = asyncio.ensure_future(asyncio.to_thread(render_image, *key))
            self._pending[key] = fut
        try:
            return await asyncio.shield(fut)
        except BaseException:
            if fut.done() and (fut.cancelled() or fut.exception() is not None):
                self._pending.pop(key, None)
            raise
