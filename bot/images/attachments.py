"""What a planned message carries: its files (:class:`Attachment`) and the message (:class:`Part`).

An attachment is an original, byte-identical, or its re-encoding; either way it is named
``<stem>_<image number>.<extension>``, behind Discord's spoiler prefix when asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["SPOILER_PREFIX", "Attachment", "Part", "file_name", "safe_stem"]

# Discord hides an attachment behind a spoiler when its filename starts with this.
SPOILER_PREFIX = "SPOILER_"
_UNSAFE_STEM_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_STEM_LENGTH = 64


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


@dataclass(frozen=True, repr=False)
class Part:
    """One message of the plan: which images (by index) and their files, in order.

    Iterating a part gives its attachments, so it also reads as the list of files it was.
    """

    indexes: tuple[int, ...]
    attachments: tuple[Attachment, ...]

    def __iter__(self) -> Iterator[Attachment]:
        """Iterate over the attachments."""
        return iter(self.attachments)

    def __len__(self) -> int:
        """Return the number of files."""
        return len(self.attachments)

    @property
    def size(self) -> int:
        """Return the bytes of all files together."""
        return sum(a.size for a in self.attachments)

    @property
    def reencoded(self) -> tuple[int, ...]:
        """Return the indexes of the images that were re-encoded (their originals to link)."""
        return tuple(a.original_index for a in self.attachments if a.reencoded)

    def __repr__(self) -> str:
        """Show the indexes, the size and what was re-encoded."""
        return f"Part(indexes={self.indexes}, {self.size} bytes, reencoded={self.reencoded})"


def safe_stem(stem: str) -> str:
    """Reduce `stem` to letters, digits, '_' and '-' so it is a safe, portable filename."""
    cleaned = _UNSAFE_STEM_CHARS.sub("_", stem).strip("_")[:_MAX_STEM_LENGTH]
    return cleaned or "image"


def file_name(stem: str, index: int, extension: str, *, spoiler: bool) -> str:
    """Name the file of image `index` (numbered from 1); `stem` is already safe."""
    prefix = SPOILER_PREFIX if spoiler else ""
    return f"{prefix}{stem}_{index + 1}.{extension}"
