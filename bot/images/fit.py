"""Plan the Discord messages that carry a job's images under the upload limit.

Discord counts ``attachment_size_limit`` over the whole message and allows ten files per
message. Originals are sent untouched whenever they fit; only an image too big for a message
on its own is re-encoded (see :mod:`bot.images.encode`). Images keep their order: they are
packed greedily into consecutive messages, which for in-order packing gives the fewest
messages, and never more messages than images.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from bot.images.download import DownloadedImage
from bot.images.encode import extension_for, shrink_to_fit

__all__ = [
    "DEFAULT_HEADROOM",
    "MAX_FILES_PER_MESSAGE",
    "SPOILER_PREFIX",
    "Attachment",
    "pack_in_order",
    "plan_messages",
    "plan_messages_blocking",
    "safe_stem",
]

log = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE = 10
# Room left for the multipart framing and the JSON payload (embed, content) of the request.
DEFAULT_HEADROOM = 64 * 1024
# Discord hides an attachment behind a spoiler when its filename starts with this.
SPOILER_PREFIX = "SPOILER_"
_UNSAFE_STEM_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_STEM_LENGTH = 64
# Re-encoding holds a decoded 4K picture (about 50 MB) and a core for seconds; two at a time
# across all jobs keeps a small host responsive and its memory bounded. A thread semaphore,
# since the work runs in worker threads.
_REENCODE_SLOTS = threading.BoundedSemaphore(2)


@dataclass(frozen=True, repr=False)
class Attachment:
    """One file of a planned message, original or re-encoded."""

    filename: str
    data: bytes
    content_type: str
    width: int
    height: int
    # Position in the list given to the planner; the image's number is original_index + 1.
    original_index: int
    reencoded: bool
    original_bytes: int

    @property
    def size(self) -> int:
        """Return the size of the file in bytes."""
        return len(self.data)

    def __repr__(self) -> str:
        """Show everything but the bytes."""
        note = f", re-encoded from {self.original_bytes} bytes" if self.reencoded else ""
        return (
            f"Attachment({self.filename!r}, {self.content_type}, {self.width}x{self.height}, "
            f"{self.size} bytes{note})"
        )


async def plan_messages(
    images: Sequence[DownloadedImage],
    *,
    limit_bytes: int,
    stem: str,
    spoiler: bool = False,
    headroom: int = DEFAULT_HEADROOM,
    max_files: int = MAX_FILES_PER_MESSAGE,
) -> list[list[Attachment]]:
    """Plan the messages for `images` in a worker thread, keeping the event loop free."""
    return await asyncio.to_thread(
        plan_messages_blocking,
        images,
        limit_bytes=limit_bytes,
        stem=stem,
        spoiler=spoiler,
        headroom=headroom,
        max_files=max_files,
    )


def plan_messages_blocking(
    images: Sequence[DownloadedImage],
    *,
    limit_bytes: int,
    stem: str,
    spoiler: bool = False,
    headroom: int = DEFAULT_HEADROOM,
    max_files: int = MAX_FILES_PER_MESSAGE,
) -> list[list[Attachment]]:
    """Split `images` into messages of at most `limit_bytes - headroom` and `max_files` each."""
    budget = limit_bytes - headroom
    if budget <= 0:
        raise ValueError(f"limit_bytes {limit_bytes} leaves nothing after {headroom} headroom")
    if max_files < 1:
        raise ValueError("max_files must be at least 1")
    stem = safe_stem(stem)
    attachments = [
        _attachment_for(index, image, budget=budget, stem=stem, spoiler=spoiler)
        for index, image in enumerate(images)
    ]
    return pack_in_order(attachments, budget=budget, max_files=max_files)


def pack_in_order(
    attachments: Sequence[Attachment], *, budget: int, max_files: int = MAX_FILES_PER_MESSAGE
) -> list[list[Attachment]]:
    """Fill messages in order, starting a new one when the next file would overflow it."""
    messages: list[list[Attachment]] = []
    current: list[Attachment] = []
    used = 0
    for attachment in attachments:
        if attachment.size > budget:
            raise ValueError(f"{attachment.filename} alone is over the {budget} byte budget")
        if current and (used + attachment.size > budget or len(current) >= max_files):
            messages.append(current)
            current, used = [], 0
        current.append(attachment)
        used += attachment.size
    if current:
        messages.append(current)
    return messages


def safe_stem(stem: str) -> str:
    """Reduce `stem` to letters, digits, '_' and '-' so it is a safe, portable filename."""
    cleaned = _UNSAFE_STEM_CHARS.sub("_", stem).strip("_")[:_MAX_STEM_LENGTH]
    return cleaned or "image"


def _attachment_for(
    index: int, image: DownloadedImage, *, budget: int, stem: str, spoiler: bool
) -> Attachment:
    """Return `image` as an attachment, re-encoded only if it cannot fit a message alone."""
    prefix = SPOILER_PREFIX if spoiler else ""
    if image.size <= budget:
        # The original bytes object itself: no copy, and byte-identical on Discord.
        return Attachment(
            filename=f"{prefix}{stem}_{index + 1}.{extension_for(image.format)}",
            data=image.data,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            original_index=index,
            reencoded=False,
            original_bytes=image.size,
        )
    with _REENCODE_SLOTS:
        smaller = shrink_to_fit(image.data, budget)
    log.info(
        "Image %d re-encoded from %d to %d bytes (%s q%d, %dx%d) to fit %d",
        index + 1,
        image.size,
        len(smaller.data),
        smaller.format,
        smaller.quality,
        smaller.width,
        smaller.height,
        budget,
    )
    return Attachment(
        filename=f"{prefix}{stem}_{index + 1}.{extension_for(smaller.format)}",
        data=smaller.data,
        content_type=smaller.content_type,
        width=smaller.width,
        height=smaller.height,
        original_index=index,
        reencoded=True,
        original_bytes=image.size,
    )
