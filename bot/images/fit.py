"""Plan the Discord messages that carry a job's images under the upload limit.

Discord counts ``attachment_size_limit`` over a whole message and allows ten files in one.
The plan sends the images in order, split into consecutive parts (messages), as few as it
can:

1. If the originals, packed in order, need no more messages than the file count forces
   (⌈n / 10⌉), they are sent as they are, byte-identical.
2. Otherwise each image gets a :class:`~bot.images.encode.Profile` (the estimated size of
   every rung of its re-encoding ladder) and the plan takes the fewest parts for which a split
   exists whose parts all fit with their images re-encoded no further than the *share floor*:
   the shared ladder's lowest quality with a long edge of at most `share_edge` (2048 px, half
   a 4K edge). Among such splits it takes the one whose fullest part is least over the limit.
   A single image always makes a part: alone, it is shrunk as far as it must be.
3. Each part is built by :func:`build_part` from its own images and the limit alone, so the
   indexes of a part, stored, re-create exactly the same files later. Within a part whose
   originals do not fit, originals no bigger than an equal share of the room are sent
   untouched; the others are taken to one common rung of their ladders (the best whose
   estimated total fits), an original no bigger than its rung there is kept as well, and
   the rest share the room in proportion to their estimates, each re-encoded to the best
   rung that fits its share. Images that share a part climb down the shared ladder (full
   size, then half size, then smaller; see :mod:`bot.images.encode` for why); an image
   alone in its part uses the fine ladder.

Everything is deterministic: the same images, indexes and limit give the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from bot.images.download import DownloadedImage
from bot.images.encode import Profile, Reencoded, extension_for, profile_image, shrink_to_fit
from bot.images.limits import run_in_image_thread

__all__ = [
    "DEFAULT_HEADROOM",
    "MAX_FILES_PER_MESSAGE",
    "SHARE_EDGE",
    "SPOILER_PREFIX",
    "Attachment",
    "ImageSlot",
    "Part",
    "build_part",
    "build_part_blocking",
    "pack_in_order",
    "plan_messages",
    "plan_messages_blocking",
    "safe_stem",
]

log = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE = 10
# Room left for the multipart framing and the JSON payload (embed, content) of the request.
DEFAULT_HEADROOM = 64 * 1024
# Images are not shrunk below this long edge just to share a message (see the module doc).
SHARE_EDGE = 2048
# Discord hides an attachment behind a spoiler when its filename starts with this.
SPOILER_PREFIX = "SPOILER_"
_UNSAFE_STEM_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_STEM_LENGTH = 64

# What the planner accepts per position: an image, or whatever stood for a failed download
# (download_all's errors, or None). Only images are planned; indexes count every position.
ImageSlot = DownloadedImage | BaseException | None


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


# ----- the async entry points (pixel work on the image threads) ----------------------------


async def plan_messages(
    images: Sequence[ImageSlot],
    *,
    limit_bytes: int,
    stem: str,
    spoiler: bool = False,
    headroom: int = DEFAULT_HEADROOM,
    max_files: int = MAX_FILES_PER_MESSAGE,
    share_edge: int = SHARE_EDGE,
) -> list[Part]:
    """Plan the messages for the images among `images`, each under `limit_bytes - headroom`.

    Positions that are not images (failed downloads) are skipped; indexes and filenames
    count every position. Raises CannotFit if an image cannot shrink into a message alone.
    """
    budget = _budget(limit_bytes, headroom, max_files)
    stem = safe_stem(stem)
    present = _present(images)
    groups = _pack_originals(present, budget, max_files)
    profiles: dict[int, Profile] = {}
    if len(groups) > _fewest(len(present), max_files):
        found = await asyncio.gather(
            *(run_in_image_thread(profile_image, image.data) for _, image in present)
        )
        profiles = {index: profile for (index, _), profile in zip(present, found, strict=True)}
        groups = _split(present, profiles, budget, max_files, share_edge)
    return [
        await _build(images, group, budget=budget, stem=stem, spoiler=spoiler, profiles=profiles)
        for group in groups
    ]


async def build_part(
    images: Sequence[ImageSlot],
    indexes: Sequence[int],
    *,
    limit_bytes: int,
    stem: str,
    spoiler: bool = False,
    headroom: int = DEFAULT_HEADROOM,
    max_files: int = MAX_FILES_PER_MESSAGE,
) -> Part:
    """Re-create the part holding `images[i]` for `i` in `indexes`, as plan_messages made it.

    Given the same images, indexes, limit, stem, spoiler and headroom, the files are the very
    same bytes. Raises ValueError if an index is not an image, CannotFit if they cannot fit.
    """
    budget = _budget(limit_bytes, headroom, max_files)
    return await _build(
        images,
        _check_indexes(images, indexes, max_files),
        budget=budget,
        stem=safe_stem(stem),
        spoiler=spoiler,
        profiles={},
    )


async def _build(
    images: Sequence[ImageSlot],
    indexes: Sequence[int],
    *,
    budget: int,
    stem: str,
    spoiler: bool,
    profiles: Mapping[int, Profile],
) -> Part:
    """Build one part, profiling and re-encoding on the image threads, images in parallel."""
    chosen = [_image_at(images, index) for index in indexes]
    if sum(image.size for image in chosen) <= budget:
        return _assemble(indexes, chosen, {}, stem=stem, spoiler=spoiler)
    missing = [index for index in indexes if index not in profiles]
    found = await asyncio.gather(
        *(run_in_image_thread(profile_image, _image_at(images, i).data) for i in missing)
    )
    known = {**profiles, **dict(zip(missing, found, strict=True))}
    shares = _shares(chosen, [known[i] for i in indexes], budget)
    jobs = [
        run_in_image_thread(
            shrink_to_fit, image.data, share, profile=known[index], shared=len(indexes) > 1
        )
        for index, image, share in zip(indexes, chosen, shares, strict=True)
        if share is not None
    ]
    encoded = iter(await asyncio.gather(*jobs))
    results = {
        position: next(encoded) for position, share in enumerate(shares) if share is not None
    }
    return _assemble(indexes, chosen, results, stem=stem, spoiler=spoiler, budget=budget)


# ----- the same, blocking (for worker threads and tests) -----------------------------------


def plan_messages_blocking(
    images: Sequence[ImageSlot],
    *,
    limit_bytes: int,
    stem: str,
    spoiler: bool = False,
    headroom: int = DEFAULT_HEADROOM,
    max_files: int = MAX_FILES_PER_MESSAGE,
    share_edge: int = SHARE_EDGE,
) -> list[Part]:
    """Do what plan_messages does, in the calling thread; the plan is the same."""
    budget = _budget(limit_bytes, headroom, max_files)
    stem = safe_stem(stem)
    present = _present(images)
    groups = _pack_originals(present, budget, max_files)
    profiles: dict[int, Profile] = {}
    if len(groups) > _fewest(len(present), max_files):
        profiles = {index: profile_image(image.data) for index, image in present}
        groups = _split(present, profiles, budget, max_files, share_edge)
    return [
        _build_blocking(images, group, budget=budget, stem=stem, spoiler=spoiler, profiles=profiles)
        for group in groups
    ]


def build_part_blocking(
    images: Sequence[ImageSlot],
    indexes: Sequence[int],
    *,
    limit_bytes: int,
    stem: str,
    spoiler: bool = False,
    headroom: int = DEFAULT_HEADROOM,
    max_files: int = MAX_FILES_PER_MESSAGE,
) -> Part:
    """Do what build_part does, in the calling thread; the part is the same."""
    budget = _budget(limit_bytes, headroom, max_files)
    return _build_blocking(
        images,
        _check_indexes(images, indexes, max_files),
        budget=budget,
        stem=safe_stem(stem),
        spoiler=spoiler,
        profiles={},
    )


def _build_blocking(
    images: Sequence[ImageSlot],
    indexes: Sequence[int],
    *,
    budget: int,
    stem: str,
    spoiler: bool,
    profiles: Mapping[int, Profile],
) -> Part:
    """Build one part in the calling thread."""
    chosen = [_image_at(images, index) for index in indexes]
    if sum(image.size for image in chosen) <= budget:
        return _assemble(indexes, chosen, {}, stem=stem, spoiler=spoiler)
    known = [
        profiles.get(i) or profile_image(image.data)
        for i, image in zip(indexes, chosen, strict=True)
    ]
    shares = _shares(chosen, known, budget)
    results = {
        position: shrink_to_fit(
            chosen[position].data, share, profile=known[position], shared=len(indexes) > 1
        )
        for position, share in enumerate(shares)
        if share is not None
    }
    return _assemble(indexes, chosen, results, stem=stem, spoiler=spoiler, budget=budget)


# ----- the decisions (pure) ----------------------------------------------------------------


def pack_in_order(
    attachments: Sequence[Attachment], *, budget: int, max_files: int = MAX_FILES_PER_MESSAGE
) -> list[list[Attachment]]:
    """Fill messages in order, starting a new one when the next file would overflow it."""
    for attachment in attachments:
        if attachment.size > budget:
            raise ValueError(f"{attachment.filename} alone is over the {budget} byte budget")
    groups = _greedy([a.size for a in attachments], budget, max_files)
    return [[attachments[position] for position in group] for group in groups]


def safe_stem(stem: str) -> str:
    """Reduce `stem` to letters, digits, '_' and '-' so it is a safe, portable filename."""
    cleaned = _UNSAFE_STEM_CHARS.sub("_", stem).strip("_")[:_MAX_STEM_LENGTH]
    return cleaned or "image"


def _budget(limit_bytes: int, headroom: int, max_files: int) -> int:
    """Return the bytes a message's files may take, or raise ValueError."""
    budget = limit_bytes - headroom
    if budget <= 0:
        raise ValueError(f"limit_bytes {limit_bytes} leaves nothing after {headroom} headroom")
    if max_files < 1:
        raise ValueError("max_files must be at least 1")
    return budget


def _present(images: Sequence[ImageSlot]) -> list[tuple[int, DownloadedImage]]:
    """Return (index, image) for every position that holds an image."""
    return [(i, image) for i, image in enumerate(images) if isinstance(image, DownloadedImage)]


def _image_at(images: Sequence[ImageSlot], index: int) -> DownloadedImage:
    """Return the image at `index`, or raise ValueError if there is none."""
    image = images[index] if 0 <= index < len(images) else None
    if not isinstance(image, DownloadedImage):
        raise ValueError(f"image {index + 1} is not available (index {index})")
    return image


def _check_indexes(
    images: Sequence[ImageSlot], indexes: Sequence[int], max_files: int
) -> list[int]:
    """Return `indexes` as a list after checking it names a valid part."""
    wanted = list(indexes)
    if not wanted:
        raise ValueError("a part needs at least one image")
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"repeated index in {wanted}")
    if len(wanted) > max_files:
        raise ValueError(f"{len(wanted)} files are more than {max_files} per message")
    for index in wanted:
        _image_at(images, index)
    return wanted


def _fewest(count: int, max_files: int) -> int:
    """Return the fewest messages `count` files need at `max_files` per message."""
    return -(-count // max_files)


def _greedy(sizes: Sequence[int], budget: int, max_files: int) -> list[list[int]]:
    """Group positions in order, starting a new group when the next would overflow."""
    groups: list[list[int]] = []
    used = 0
    for position, size in enumerate(sizes):
        if not groups or used + size > budget or len(groups[-1]) >= max_files:
            groups.append([])
            used = 0
        groups[-1].append(position)
        used += size
    return groups


def _pack_originals(
    present: Sequence[tuple[int, DownloadedImage]], budget: int, max_files: int
) -> list[list[int]]:
    """Group the images, unchanged, in order (an image over budget makes a part alone)."""
    groups = _greedy([image.size for _, image in present], budget, max_files)
    return [[present[position][0] for position in group] for group in groups]


def _split(
    present: Sequence[tuple[int, DownloadedImage]],
    profiles: Mapping[int, Profile],
    budget: int,
    max_files: int,
    share_edge: int,
) -> list[list[int]]:
    """Return the fewest consecutive parts that fit above the share floor, most balanced."""
    sizes = [image.size for _, image in present]
    floors = []
    for index, image in present:
        profile = profiles[index]
        floors.append(min(image.size, profile.estimate(profile.floor(share_edge))))
    count = len(present)
    for parts in range(_fewest(count, max_files), count + 1):
        split = _balanced_split(sizes, floors, parts, budget, max_files)
        if split is not None:
            return [[present[position][0] for position in group] for group in split]
    # Unreachable: one image a part is always allowed.
    raise AssertionError("no split found")


def _balanced_split(
    sizes: Sequence[int],
    floors: Sequence[float],
    parts: int,
    budget: int,
    max_files: int,
) -> list[list[int]] | None:
    """Split positions into `parts` consecutive groups that fit at their floors, minimising
    the largest group's original bytes; None if no such split exists. Ties go to the split
    whose cuts come first."""
    count = len(sizes)

    def cost(start: int, end: int) -> float:
        files = end - start
        if files > max_files or (files > 1 and math.fsum(floors[start:end]) > budget):
            return math.inf
        return sum(sizes[start:end]) / budget

    # best[k][j]: the least "largest group" over splits of the first j images into k groups.
    best = [[math.inf] * (count + 1) for _ in range(parts + 1)]
    cut = [[0] * (count + 1) for _ in range(parts + 1)]
    best[0][0] = 0.0
    for k in range(1, parts + 1):
        for end in range(k, count + 1):
            for start in range(k - 1, end):
                if best[k - 1][start] == math.inf:
                    continue
                value = max(best[k - 1][start], cost(start, end))
                if value < best[k][end]:
                    best[k][end] = value
                    cut[k][end] = start
    if best[parts][count] == math.inf:
        return None
    groups: list[list[int]] = []
    end = count
    for k in range(parts, 0, -1):
        start = cut[k][end]
        groups.append(list(range(start, end)))
        end = start
    return groups[::-1]


def _shares(
    images: Sequence[DownloadedImage], profiles: Sequence[Profile], budget: int
) -> list[int | None]:
    """Return each image's byte share of a part that does not fit as it is (None: original).

    First, originals no bigger than an equal share of the room are kept, smallest first.
    The others go to the best common ladder position whose estimated total fits the room
    left; one whose original is no bigger than its rung there is kept too, and the rest
    share the room in proportion to their rungs' estimates.
    """
    sizes = [image.size for image in images]
    keep = [False] * len(images)
    room = budget
    waiting = len(images)
    for position in sorted(range(len(images)), key=lambda p: (sizes[p], p)):
        if sizes[position] * waiting > room:
            break
        keep[position] = True
        room -= sizes[position]
        waiting -= 1
    rest = [p for p in range(len(images)) if not keep[p]]
    shared = len(images) > 1
    estimates = {
        p: [profiles[p].estimate(rung) for rung in profiles[p].ladder(shared=shared)] for p in rest
    }
    depth = max(len(e) for e in estimates.values())
    rungs: dict[int, float] = {}
    for level in range(depth):
        rungs = {p: estimates[p][min(level, len(estimates[p]) - 1)] for p in rest}
        total = math.fsum(min(sizes[p], rungs[p]) for p in rest)
        if total <= room:
            break
    for p in rest:
        if sizes[p] <= rungs[p]:
            keep[p] = True
            room -= sizes[p]
    weight = math.fsum(rungs[p] for p in rest if not keep[p])
    return [
        None if keep[p] else max(1, math.floor(room * rungs[p] / weight))
        for p in range(len(images))
    ]


def _assemble(
    indexes: Sequence[int],
    images: Sequence[DownloadedImage],
    encoded: Mapping[int, Reencoded],
    *,
    stem: str,
    spoiler: bool,
    budget: int | None = None,
) -> Part:
    """Make the part's attachments: originals, or their re-encodings by position."""
    prefix = SPOILER_PREFIX if spoiler else ""
    attachments = []
    for position, (index, image) in enumerate(zip(indexes, images, strict=True)):
        smaller = encoded.get(position)
        if smaller is None:
            # The original bytes object itself: no copy, and byte-identical on Discord.
            attachments.append(
                Attachment(
                    filename=f"{prefix}{stem}_{index + 1}.{extension_for(image.format)}",
                    data=image.data,
                    content_type=image.content_type,
                    width=image.width,
                    height=image.height,
                    original_index=index,
                    reencoded=False,
                    original_bytes=image.size,
                )
            )
            continue
        log.info(
            "Image %d re-encoded from %d to %d bytes (%s q%d, %dx%d) to share %d",
            index + 1,
            image.size,
            len(smaller.data),
            smaller.format,
            smaller.quality,
            smaller.width,
            smaller.height,
            budget or 0,
        )
        attachments.append(
            Attachment(
                filename=f"{prefix}{stem}_{index + 1}.{extension_for(smaller.format)}",
                data=smaller.data,
                content_type=smaller.content_type,
                width=smaller.width,
                height=smaller.height,
                original_index=index,
                reencoded=True,
                original_bytes=image.size,
            )
        )
    return Part(indexes=tuple(indexes), attachments=tuple(attachments))
