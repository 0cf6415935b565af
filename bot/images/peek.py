"""Look at the first bytes of an image someone else hosts: what format it really is, and its size.

A member's reference image (bot/jobs/references.py) is a Discord attachment; kie fetches it
itself, so the bot never needs the whole file. It reads the head (one ranged GET of at most
`PEEK_BYTES`) to learn the format from the bytes, whatever the file's name or the server's
Content-Type claim, and the pixel size when the header holds it. The same look tells whether
the link still works. Only allowed hosts are fetched, and no redirect is followed.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from PIL import Image

from bot.images.errors import DownloadFailed
from bot.images.urls import check_url, redact_url

__all__ = ["PEEK_BYTES", "ImageHead", "peek_image", "read_head", "sniff_format"]

log = logging.getLogger(__name__)

# Enough for every format's signature and, nearly always, the header with the pixel size
# (a JPEG's size sits after its EXIF and colour profile, which are rarely longer).
PEEK_BYTES = 64 * 1024
DEFAULT_PEEK_TIMEOUT = 10.0

# Signatures at the start of the file, as (offset, bytes); first match wins.
_SIGNATURES: tuple[tuple[str, tuple[tuple[int, bytes], ...]], ...] = (
    ("JPEG", ((0, b"\xff\xd8\xff"),)),
    ("PNG", ((0, b"\x89PNG\r\n\x1a\n"),)),
    ("WEBP", ((0, b"RIFF"), (8, b"WEBP"))),
    ("GIF", ((0, b"GIF87a"),)),
    ("GIF", ((0, b"GIF89a"),)),
    ("BMP", ((0, b"BM"),)),
    ("TIFF", ((0, b"II*\x00"),)),
    ("TIFF", ((0, b"MM\x00*"),)),
    ("HEIF", ((4, b"ftypheic"),)),
    ("AVIF", ((4, b"ftypavif"),)),
)
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True)
class ImageHead:
    """What the first bytes of a file say: its format (None: no image format known) and size.

    `width` and `height` are None when the head does not hold them.
    """

    format: str | None
    width: int | None = None
    height: int | None = None

    @property
    def content_type(self) -> str | None:
        """Return the MIME type of a JPEG, PNG or WebP head (None for anything else)."""
        return _CONTENT_TYPES.get(self.format or "")


def sniff_format(head: bytes) -> str | None:
    """Return the image format the bytes start with ("JPEG", "PNG", "WEBP", "GIF", …) or None."""
    for name, marks in _SIGNATURES:
        if all(head[at : at + len(mark)] == mark for at, mark in marks):
            return name
    return None


def read_head(head: bytes) -> ImageHead:
    """Return the format (from the signature) and, if the header is there, the pixel size."""
    image_format = sniff_format(head)
    if image_format is None:
        return ImageHead(None)
    try:
        # Lazy: Pillow reads the header only, which is all a head holds.
        with Image.open(io.BytesIO(head)) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - Pillow raises many types for a cut header
        return ImageHead(image_format)
    return ImageHead(image_format, width, height)


async def _read_up_to(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Read until `limit` bytes or the end: a server that ignores Range sends everything."""
    buffer = bytearray()
    while len(buffer) < limit:
        chunk = await stream.read(limit - len(buffer))
        if not chunk:
            break
        buffer += chunk
    return bytes(buffer)


async def peek_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allowed_hosts: Sequence[str],
    user_agent: str,
    limit: int = PEEK_BYTES,
    timeout: float = DEFAULT_PEEK_TIMEOUT,
) -> ImageHead:
    """Read the first `limit` bytes of `url` and say what they are.

    Raises HostNotAllowed for a URL outside `allowed_hosts`, DownloadFailed when the file
    cannot be had (an HTTP error such as an expired link's 404, a redirect, a timeout).
    """
    target = check_url(url, allowed_hosts)
    safe = redact_url(target)
    headers = {
        "User-Agent": user_agent,
        "Range": f"bytes=0-{limit - 1}",
        "Accept-Encoding": "identity",
    }
    try:
        async with asyncio.timeout(timeout):
            async with session.get(
                target, headers=headers, allow_redirects=False, raise_for_status=False
            ) as response:
                if response.status not in (200, 206):
                    raise DownloadFailed(f"{safe}: HTTP {response.status}", url=safe)
                head = await _read_up_to(response.content, limit)
    except TimeoutError:
        raise DownloadFailed(f"{safe}: timed out after {timeout:g} s", url=safe) from None
    except aiohttp.ClientError as exc:
        raise DownloadFailed(f"{safe}: request failed ({type(exc).__name__})", url=safe) from None
    seen = await asyncio.to_thread(read_head, head)
    log.debug("Peeked at %s: %s", safe, seen)
    return seen
