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


def image_dimensions(image_size: str, resolution: str) -> tuple[int, int]:
    """Return the guessed (width, height) for an image_size and resolution."""
    long_edge = LONG_EDGE[resolution]
    rw, rh = RATIOS[image_size]
    if rw >= rh:
        return long_edge, round(long_edge * rh / rw)
    return round(long_edge * rw / rh), long_edge


def _colour(index: int, image_size: str) -> tuple[int, int, int]:
    """Pick a distinct, saturated colour per image index."""
    hue = (index * 0.161 + sum(map(ord, image_size)) * 0.013) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def _gradient(width: int, height: int, colour: tuple[int, int, int]) -> Image.Image:
    """Draw a diagonal gradient from the colour to its complement, cheaply at any size."""
    small = Image.new("RGB", (64, 64))
    px = small.load()
    assert px is not None
    comp = tuple(255 - c for c in colour)
    for y in range(64):
        for x in range(64):
            t = (x + y) / 126
            px[x, y] = tuple(int(a * (1 - t) + b * t) for a, b in zip(colour, comp, strict=True))
    return small.resize((width, height), Image.Resampling.BILINEAR)


def _label(img: Image.Image, text: str) -> None:
    """Write the image's label large enough to see at a glance."""
    draw = ImageDraw.Draw(img)
    size = max(12, min(img.size) // 8)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=size)
    except (TypeError, OSError):
        font = ImageFont.load_default()
    draw.text(
        (size // 2, size // 2),
        text,
        fill=(255, 255, 255),
        font=font,
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )


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
def render_image(image_size: str, resolution: str, index: int, large: bool = False) -> bytes:
    """Render result image ``index`` as JPEG bytes; ``large`` makes it at least 4 MiB."""
    width, height = image_dimensions(image_size, resolution)
    colour = _colour(index, image_size)
    img = _gradient(width, height, colour)
    if large:
        # Noise does not compress, so it makes the file big; a band of it keeps 4K sane.
        rng = random.Random(f"{image_size}/{resolution}/{index}")
        rows = min(height, -(-_LARGE_TARGET // int(width * 1.15)))
        band = Image.frombytes("RGB", (width, rows), rng.randbytes(width * rows * 3))
        img.paste(band, (0, height - rows))
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
    """Render images in a worker thread, once per (size, resolution, index, mode)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str, int, bool], asyncio.Future[bytes]] = {}

    async def get(self, image_size: str, resolution: str, index: int, large: bool) -> bytes:
        """Return the image bytes, rendering them off the event loop the first time."""
        key = (image_size, resolution, index, large)
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
