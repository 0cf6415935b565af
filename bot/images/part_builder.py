"""Build one planned message, byte for byte, from its images' indexes and the limit alone.

A part is built from nothing but its own images, indexes and budget, so its indexes, stored,
re-create exactly the same files later (:func:`build_part`, after a restart). When the
originals do not fit together, originals no bigger than an equal share of the room are sent
untouched; the others are taken to one common rung of their ladders (the best whose
estimated total fits), an original no bigger than its rung there is kept as well, and the
rest share the room in proportion to their estimates, each re-encoded to the best rung that
fits its share (bot/images/encode.py). Images that share a part use the shared ladder; an
image alone in its part uses the fine ladder.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence

from bot.images.attachments import Attachment, Part, file_name, safe_stem
from bot.images.download import DownloadedImage
from bot.images.encode import Profile, Reencoded, extension_for, profile_image, shrink_to_fit
from bot.images.packing import DEFAULT_HEADROOM, MAX_FILES_PER_MESSAGE, message_budget
from bot.images.pixel_work import Steps, run_blocking, run_on_image_threads

__all__ = [
    "ImageSlot",
    "build_part",
    "build_part_blocking",
    "part_steps",
]

log = logging.getLogger(__name__)

# What the planner accepts per position: an image, or whatever stood for a failed download
# (download_all's errors, or None). Only images are planned; indexes count every position.
ImageSlot = DownloadedImage | BaseException | None


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
    return await run_on_image_threads(
        _rebuild(images, indexes, limit_bytes, stem, spoiler, headroom, max_files)
    )


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
    return run_blocking(_rebuild(images, indexes, limit_bytes, stem, spoiler, headroom, max_files))


def _rebuild(
    images: Sequence[ImageSlot],
    indexes: Sequence[int],
    limit_bytes: int,
    stem: str,
    spoiler: bool,
    headroom: int,
    max_files: int,
) -> Steps[Part]:
    """The steps of build_part: check what is asked for, then build it with no profiles."""
    budget = message_budget(limit_bytes, headroom, max_files)
    wanted = _check_indexes(images, indexes, max_files)
    return (
        yield from part_steps(
            images, wanted, budget=budget, stem=safe_stem(stem), spoiler=spoiler, profiles={}
        )
    )


def part_steps(
    images: Sequence[ImageSlot],
    indexes: Sequence[int],
    *,
    budget: int,
    stem: str,
    spoiler: bool,
    profiles: Mapping[int, Profile],
) -> Steps[Part]:
    """The steps that build one part: profile what `profiles` lacks, then re-encode what
    does not fit as it is, each image's work in one batch (see bot/images/pixel_work.py)."""
    chosen = [_image_at(images, index) for index in indexes]
    if sum(image.size for image in chosen) <= budget:
        return _assemble(indexes, chosen, {}, stem=stem, spoiler=spoiler)
    missing = [index for index in indexes if index not in profiles]
    found: list[Profile] = yield [
        functools.partial(profile_image, _image_at(images, i).data) for i in missing
    ]
    known = {**profiles, **dict(zip(missing, found, strict=True))}
    shares = _shares(chosen, [known[i] for i in indexes], budget)
    shared = len(indexes) > 1
    smaller: list[Reencoded] = yield [
        functools.partial(shrink_to_fit, image.data, share, profile=known[index], shared=shared)
        for index, image, share in zip(indexes, chosen, shares, strict=True)
        if share is not None
    ]
    encoded = iter(smaller)
    results = {
        position: next(encoded) for position, share in enumerate(shares) if share is not None
    }
    return _assemble(indexes, chosen, results, stem=stem, spoiler=spoiler, budget=budget)


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
    attachments = []
    for position, (index, image) in enumerate(zip(indexes, images, strict=True)):
        smaller = encoded.get(position)
        if smaller is not None:
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
        # An original is its bytes object itself: no copy, and byte-identical on Discord.
        file = image if smaller is None else smaller
        attachments.append(
            Attachment(
                filename=file_name(stem, index, extension_for(file.format), spoiler=spoiler),
                data=file.data,
                content_type=file.content_type,
                width=file.width,
                height=file.height,
                original_index=index,
                reencoded=smaller is not None,
                original_bytes=image.size,
            )
        )
    return Part(indexes=tuple(indexes), attachments=tuple(attachments))
