"""Which images share a message: the message budget and the rules that split a plan (pure).

Images stay in order; a message holds at most ``max_files`` files whose bytes add up to at
most the budget (Discord's limit less some headroom). Originals are first packed greedily as
they are; when that needs more messages than the file count forces, :func:`split` takes the
fewest consecutive parts that fit with every image at its *share floor* (see
bot/images/fit.py), the most balanced of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from bot.images.attachments import Attachment
from bot.images.download import DownloadedImage
from bot.images.estimate import Profile

__all__ = [
    "DEFAULT_HEADROOM",
    "MAX_FILES_PER_MESSAGE",
    "SHARE_EDGE",
    "fewest_messages",
    "message_budget",
    "pack_in_order",
    "pack_originals",
    "split",
]

MAX_FILES_PER_MESSAGE = 10
# Room left for the multipart framing and the JSON payload (embed, content) of the request.
DEFAULT_HEADROOM = 64 * 1024
# Images are not shrunk below this long edge just to share a message (see bot/images/fit.py).
SHARE_EDGE = 2048


def message_budget(limit_bytes: int, headroom: int, max_files: int) -> int:
    """Return the bytes a message's files may take, or raise ValueError."""
    budget = limit_bytes - headroom
    if budget <= 0:
        raise ValueError(f"limit_bytes {limit_bytes} leaves nothing after {headroom} headroom")
    if max_files < 1:
        raise ValueError("max_files must be at least 1")
    return budget


def fewest_messages(count: int, max_files: int) -> int:
    """Return the fewest messages `count` files need at `max_files` per message."""
    return -(-count // max_files)


def pack_in_order(
    attachments: Sequence[Attachment], *, budget: int, max_files: int = MAX_FILES_PER_MESSAGE
) -> list[list[Attachment]]:
    """Fill messages in order, starting a new one when the next file would overflow it."""
    for attachment in attachments:
        if attachment.size > budget:
            raise ValueError(f"{attachment.filename} alone is over the {budget} byte budget")
    groups = _greedy([a.size for a in attachments], budget, max_files)
    return [[attachments[position] for position in group] for group in groups]


def pack_originals(
    present: Sequence[tuple[int, DownloadedImage]], budget: int, max_files: int
) -> list[list[int]]:
    """Group the images, unchanged, in order (an image over budget makes a part alone)."""
    groups = _greedy([image.size for _, image in present], budget, max_files)
    return [[present[position][0] for position in group] for group in groups]


def split(
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
    for parts in range(fewest_messages(count, max_files), count + 1):
        found = _balanced_split(sizes, floors, parts, budget, max_files)
        if found is not None:
            return [[present[position][0] for position in group] for group in found]
    # Unreachable: one image a part is always allowed.
    raise AssertionError("no split found")


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
