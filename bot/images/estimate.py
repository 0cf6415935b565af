"""Estimate what every rung of an image's ladder would weigh, from one look at its pixels.

Real encodes are expensive, so a :class:`Profile` measures bytes per pixel at a few
(scale, quality) samples, on mosaics of tiles taken at those scales (or the whole picture
when it is small), and interpolates the rest. The planner (bot/images/fit.py) shares a
message's room between images from their profiles; the quality search (bot/images/encode.py)
skips rungs clearly over budget and corrects the estimates with each real encode.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from bot.images import formats
from bot.images.downscale import REDUCING_GAP, RESAMPLE, decode, resized
from bot.images.ladder import MIN_EDGE, QUALITY_LADDER, Rung, half_size, ladder, scaled

__all__ = ["Profile", "profile_image", "profile_in_some_format", "profile_picture"]

# The mosaic: 16 tiles of 128 × 128 pixels spread over the picture, each cut at the rung's
# scale, so it sees every region at the detail the rung keeps: a 512 × 512 encode instead of
# a full one (1/64 of a 4K picture).
_TILE = 128
_GRID = 4
_MOSAIC_SIDE = _TILE * _GRID
# Pictures of up to this many pixels are sampled whole, which makes their estimates exact.
_WHOLE_PICTURE_PIXELS = 1024 * 1024
# Where bytes per pixel are measured: each quality at full and half size, the lowest quality
# at a few more scales; everything else interpolates (see Profile.per_pixel).
_SAMPLES = (
    *((1.0, quality) for quality in QUALITY_LADDER),
    (0.73, QUALITY_LADDER[-1]),
    *((0.5, quality) for quality in QUALITY_LADDER),
    (0.35, QUALITY_LADDER[-1]),
    (0.25, QUALITY_LADDER[-1]),
)
# Scales closer than this are the same sample.
_SAME_SCALE = 0.002
# Headers and tables that do not grow with the pixels (the colour profile is added apart).
_HEADER_BYTES = 1024


@dataclass(frozen=True)
class Profile:
    """An image's estimated bytes per pixel at a few (scale, quality) samples, from one look
    at its pixels; :meth:`estimate` gives any rung's size from them."""

    format: str
    # Upright size (after the EXIF orientation is applied).
    width: int
    height: int
    # (scale, quality, bytes per pixel), scales falling.
    samples: tuple[tuple[float, int, float], ...]
    # Bytes that do not grow with the pixels: headers, tables, the colour profile.
    fixed: int

    def ladder(self, *, shared: bool) -> tuple[Rung, ...]:
        """Return this image's ladder (see :func:`bot.images.ladder.ladder`)."""
        return ladder(self.width, self.height, shared=shared)

    def estimate(self, rung: Rung) -> float:
        """Return the estimated size of `rung` in bytes."""
        return self.per_pixel(rung.width / self.width, rung.quality) * rung.pixels + self.fixed

    def per_pixel(self, scale: float, quality: int) -> float:
        """Return the bytes per pixel at `scale` and `quality`: sampled, or interpolated
        (log against log of the scale) along the lowest quality, times that quality's
        ratio to the lowest at full size."""
        for s, q, value in self.samples:
            if q == quality and abs(s - scale) < _SAME_SCALE:
                return value
        floor = [(s, value) for s, q, value in self.samples if q == QUALITY_LADDER[-1]]
        ratio = 1.0
        if quality != QUALITY_LADDER[-1]:
            top = [v for s, q, v in self.samples if q == quality and abs(s - 1.0) < _SAME_SCALE]
            ratio = top[0] / floor[0][1] if top and floor[0][1] > 0 else 1.0
        return ratio * _along(floor, scale)

    def floor(self, share_edge: int) -> Rung:
        """Return the last rung an image may go down to when it shares a message: the
        shared ladder's first at the lowest quality with a long edge of at most
        `share_edge` (full size, if the picture is no bigger)."""
        rungs = self.ladder(shared=True)
        for rung in rungs:
            if rung.quality == QUALITY_LADDER[-1] and rung.long_edge <= share_edge:
                return rung
        return rungs[-1]


def _along(points: Sequence[tuple[float, float]], scale: float) -> float:
    """Interpolate bytes per pixel at `scale` between (scale, value) points, scales falling;
    beyond either end, the nearest point's value."""
    if scale >= points[0][0]:
        return points[0][1]
    for (s_high, v_high), (s_low, v_low) in itertools.pairwise(points):
        if s_low <= scale <= s_high:
            if v_high <= 0 or v_low <= 0 or s_high == s_low:
                return max(v_high, v_low)
            t = math.log(scale / s_high) / math.log(s_low / s_high)
            return math.exp(math.log(v_high) + t * math.log(v_low / v_high))
    return points[-1][1]


def profile_image(data: bytes) -> Profile:
    """Decode `data` once and sample what its rungs would weigh (see Profile)."""
    image = decode(data)
    try:
        return profile_in_some_format(image)
    finally:
        image.close()


def profile_in_some_format(image: Image.Image) -> Profile:
    """Profile `image` in its format, or in JPEG if libwebp gives up on it."""
    return formats.with_jpeg_fallback(
        lambda image_format: profile_picture(image, image_format),
        formats.format_for(image),
        *image.size,
    )


def profile_picture(image: Image.Image, image_format: str) -> Profile:
    """Sample `image`'s bytes per pixel in `image_format` (see _SAMPLES)."""
    width, height = image.size
    fixed = _HEADER_BYTES + len(image.info.get("icc_profile") or b"")
    whole = width * height <= _WHOLE_PICTURE_PIXELS or min(width, height) < _MOSAIC_SIDE
    samples = []
    for wanted, quality in _SAMPLES:
        # The half-size samples at the size libjpeg reduces to.
        size = half_size(width, height) if wanted == 0.5 else scaled((width, height), wanted)
        if wanted < 1.0 and (max(size) < MIN_EDGE or size == (width, height)):
            continue
        scale = size[0] / width
        if whole:
            smaller = resized(image, size)
            try:
                encoded = len(formats.encode(smaller, image_format, quality))
            finally:
                if smaller is not image:
                    smaller.close()
            per_pixel = max(0, encoded - fixed) / (size[0] * size[1])
        else:
            per_pixel = _mosaic_bytes_per_pixel(image, scale, image_format, quality)
        samples.append((scale, quality, per_pixel))
    return Profile(image_format, width, height, tuple(samples), fixed)


def _mosaic_bytes_per_pixel(
    image: Image.Image, scale: float, image_format: str, quality: int
) -> float:
    """Encode a mosaic of tiles cut at `scale` and return its bytes per pixel."""
    width, height = image.size
    # The source region that becomes one tile at this scale, never more than the picture.
    region = min(round(_TILE / scale), width, height)
    mosaic = Image.new(image.mode, (_MOSAIC_SIDE, _MOSAIC_SIDE))
    try:
        for row in range(_GRID):
            for col in range(_GRID):
                left = (width - region) * col // (_GRID - 1)
                top = (height - region) * row // (_GRID - 1)
                box = (left, top, left + region, top + region)
                if region == _TILE:
                    tile = image.crop(box)
                elif region == 2 * _TILE:
                    # Half size is made by averaging 2 × 2 blocks (or in libjpeg's DCT,
                    # which this tracks more closely than a resampling filter does).
                    whole = image.crop(box)
                    tile = whole.reduce(2)
                    whole.close()
                else:
                    tile = image.resize(
                        (_TILE, _TILE), RESAMPLE, box=box, reducing_gap=REDUCING_GAP
                    )
                mosaic.paste(tile, (col * _TILE, row * _TILE))
                tile.close()
        return len(formats.encode(mosaic, image_format, quality)) / (_MOSAIC_SIDE * _MOSAIC_SIDE)
    finally:
        mosaic.close()
