"""Plan the Discord messages that carry a job's images under the upload limit.

Discord counts ``attachment_size_limit`` over a whole message and allows ten files in one.
The plan sends the images in order, split into consecutive parts (messages), as few as it
can:

1. If the originals, packed in order, need no more messages than the file count forces
   (⌈n / 10⌉), they are sent as they are, byte-identical.
2. Otherwise each image gets a :class:`~bot.images.estimate.Profile` (the estimated size of
   every rung of its re-encoding ladder) and the plan takes the fewest parts for which a split
   exists whose parts all fit with their images re-encoded no further than the *share floor*:
   the shared ladder's lowest quality with a long edge of at most `share_edge` (2048 px, half
   a 4K edge). Among such splits it takes the one whose fullest part is least over the limit
   (the rules are in bot/images/packing.py). A single image always makes a part: alone, it
   is shrunk as far as it must be.
3. Each part is built by :func:`~bot.images.part_builder.build_part` from its own images and
   the limit alone, so the indexes of a part, stored, re-create exactly the same files later
   (bot/images/part_builder.py says how a part's room is shared).

Everything is deterministic: the same images, indexes and limit give the same bytes. The
async entry points do the pixel work on the image threads, the ``_blocking`` ones in the
calling thread; both run the same steps (bot/images/pixel_work.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from bot.images.attachments import SPOILER_PREFIX, Attachment, Part, safe_stem
from bot.images.download import DownloadedImage
from bot.images.encode import Profile, profile_image
from bot.images.packing import (
    DEFAULT_HEADROOM,
    MAX_FILES_PER_MESSAGE,
    SHARE_EDGE,
    fewest_messages,
    message_budget,
    pack_in_order,
    pack_originals,
    split,
)
from bot.images.part_builder import ImageSlot, build_part, build_part_blocking, part_steps
from bot.images.pixel_work import Steps, run_blocking, run_on_image_threads

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
    return await run_on_image_threads(
        _plan(images, limit_bytes, stem, spoiler, headroom, max_files, share_edge)
    )


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
    return run_blocking(_plan(images, limit_bytes, stem, spoiler, headroom, max_files, share_edge))


def _plan(
    images: Sequence[ImageSlot],
    limit_bytes: int,
    stem: str,
    spoiler: bool,
    headroom: int,
    max_files: int,
    share_edge: int,
) -> Steps[list[Part]]:
    """The steps of a plan: pack the originals; if that costs messages, profile every image
    and split again; then build each part in turn."""
    budget = message_budget(limit_bytes, headroom, max_files)
    stem = safe_stem(stem)
    present = [(i, image) for i, image in enumerate(images) if isinstance(image, DownloadedImage)]
    groups = pack_originals(present, budget, max_files)
    profiles: dict[int, Profile] = {}
    if len(groups) > fewest_messages(len(present), max_files):
        found: list[Profile] = yield [
            functools.partial(profile_image, image.data) for _, image in present
        ]
        profiles = {index: profile for (index, _), profile in zip(present, found, strict=True)}
        groups = split(present, profiles, budget, max_files, share_edge)
    parts = []
    for group in groups:
        part = yield from part_steps(
            images, group, budget=budget, stem=stem, spoiler=spoiler, profiles=profiles
        )
        parts.append(part)
    return parts
