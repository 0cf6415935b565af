"""The rungs an image may be re-encoded at, best first: a size and a quality each.

Both ladders start with full size at each quality. An image alone in its message uses the
fine ladder: then ever smaller sizes (steps of 0.9) at the lowest quality. Images that share a
message use the shared ladder: half size at each quality, then smaller. Sizes between half and
full would each cost a full decode and a resize (for a 4K picture about 0.37 s of CPU and
118 MiB at the peak); a JPEG at half size is decoded reduced inside libjpeg's DCT instead
(about 0.09 s and 16 MiB; see bot/images/downscale.py).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MIN_EDGE",
    "QUALITY_LADDER",
    "SCALE_STEP",
    "Rung",
    "half_size",
    "ladder",
    "scaled",
]

QUALITY_LADDER = (90, 85, 80)
# Each smaller rung is 0.9 times as wide and high (0.81 times the pixels) as the one before.
SCALE_STEP = 0.9
# Below this long edge a picture is a thumbnail, not a result worth sending.
MIN_EDGE = 64


@dataclass(frozen=True)
class Rung:
    """One candidate re-encoding: a size and a quality."""

    width: int
    height: int
    quality: int

    @property
    def pixels(self) -> int:
        """Return the number of pixels."""
        return self.width * self.height

    @property
    def long_edge(self) -> int:
        """Return the longer of the two edges."""
        return max(self.width, self.height)


def half_size(width: int, height: int) -> tuple[int, int]:
    """Return half of `width` × `height`, rounded up as libjpeg's reduced decode rounds."""
    return (width + 1) // 2, (height + 1) // 2


def scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """Return `size` multiplied by `scale`, at least one pixel each way."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def ladder(width: int, height: int, *, shared: bool = False) -> tuple[Rung, ...]:
    """Return the rungs for a `width` × `height` picture, best first.

    Both ladders start with full size at each quality. The fine one then shrinks by 0.9 at
    the lowest quality; the shared one goes to half size (rounded up, as libjpeg reduces)
    at each quality, then shrinks by 0.9 below that.
    """
    rungs = [Rung(width, height, quality) for quality in QUALITY_LADDER]
    half = half_size(width, height)
    if shared and half != (width, height):
        rungs += [Rung(*half, quality) for quality in QUALITY_LADDER]
    scale = SCALE_STEP
    while max(width, height) * scale >= MIN_EDGE:
        w, h = scaled((width, height), scale)
        last = rungs[-1]
        smaller = (w, h) != (last.width, last.height) and w <= last.width and h <= last.height
        if smaller and (not shared or (w < half[0] or h < half[1])):
            rungs.append(Rung(w, h, QUALITY_LADDER[-1]))
        scale *= SCALE_STEP
    return tuple(rungs)
