"""The kie.ai stand-in fetching an edit task's ``image_urls``, as kie does when the task starts.

kie takes only JPEG, PNG and WebP images of at most 10 MB (its docs) and fetches them itself;
a URL it cannot fetch, or a file that is not such an image, fails the task. How kie words that
failure is not documented: the stand-in answers ``failCode`` "422" and a ``failMsg`` naming
the entry (docs/kie-api.md §3a), with no credits charged.

Written apart from ``bot`` on purpose (the stand-in must not share the client's bugs).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import ClientError, ClientSession, ClientTimeout
from PIL import Image

__all__ = ["FETCH_FAIL_CODE", "MAX_IMAGE_BYTES", "FetchedImage", "failure_for", "fetch_images"]

MAX_IMAGE_BYTES = 10_000_000
FETCH_FAIL_CODE = "422"
FETCH_TIMEOUT = 15.0
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass
class FetchedImage:
    """What the stand-in got from one ``image_urls`` entry when its task started."""

    url: str
    status: int | None = None  # HTTP status (None: no answer at all)
    size: int = 0
    format: str | None = None  # what the bytes are (Pillow's name), None if not an image
    error: str | None = None  # why kie could not use it; None: it could

    @property
    def ok(self) -> bool:
        """Return True if kie could use the image."""
        return self.error is None


def _image_format(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.format
    except Exception:  # noqa: BLE001 - anything Pillow cannot read is not an image
        return None


async def _fetch_one(session: ClientSession, url: str) -> FetchedImage:
    seen = FetchedImage(url)
    try:
        async with session.get(url, timeout=ClientTimeout(total=FETCH_TIMEOUT)) as response:
            seen.status = response.status
            if response.status != 200:
                seen.error = f"HTTP {response.status}"
                return seen
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:
                    break
    except (ClientError, OSError, TimeoutError) as exc:
        seen.error = type(exc).__name__
        return seen
    seen.size = len(data)
    if seen.size > MAX_IMAGE_BYTES:
        seen.error = f"over {MAX_IMAGE_BYTES} bytes"
        return seen
    seen.format = await asyncio.to_thread(_image_format, bytes(data))
    if seen.format not in _FORMATS:
        seen.error = f"not a JPEG, PNG or WebP image ({seen.format or 'unreadable'})"
    return seen


async def fetch_images(session: ClientSession, urls: Sequence[str]) -> list[FetchedImage]:
    """Fetch every URL (at once, as a task start would); return what came of each, in order."""
    return list(await asyncio.gather(*(_fetch_one(session, url) for url in urls)))


def failure_for(fetched: Sequence[FetchedImage]) -> tuple[str, str] | None:
    """Return the task's (failCode, failMsg) for the first unusable image, or None."""
    for i, seen in enumerate(fetched):
        if not seen.ok:
            return FETCH_FAIL_CODE, f"image_urls[{i}] could not be downloaded ({seen.error})"
    return None
