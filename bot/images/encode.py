"""Re-encode an image that is too big for a message, keeping as much quality as fits.

The search walks candidates from best to worst: WebP (or JPEG) at falling quality, then at
falling scale, and returns the first that fits. Full-size encodes of a 4K image take seconds,
so a cheap estimate from a mosaic of tiles skips rungs that clearly cannot fit. Blocking:
call through ``asyncio.to_thread`` from async code.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageOps, features

from bot.images.errors import CannotFit
from bot.images.probe import ALLOWED_FORMATS

__all__ = [
    "MIN_EDGE",
    "QUALITY_LADDER",
    "SCALE_STEP",
    "Reencoded",
    "extension_for",
    "reencode_format",
    "shrink_to_fit",
]

log = logging.getLogger(__name__)

QUALITY_LADDER = (90, 80, 70)
SCALE_STEP = 0.85
# Below this long edge a picture is a thumbnail, not a result worth sending.
MIN_EDGE = 64
# libwebp cannot encode an edge longer than this.
_WEBP_MAX_EDGE = 16383
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# The estimate encodes a 512 × 512 mosaic of 16 tiles spread over the image: about 1/64 of
# the work of a full 4K encode, yet it sees every region of the picture.
_TILE = 128
_GRID = 4
# Only estimate when a real encode costs much more than the mosaic does.
_MIN_PIXELS_TO_ESTIMATE = 16 * (_TILE * _GRID) ** 2
# A rung is skipped only when its estimate overshoots the budget by more than this factor,
# so an estimate that is a little pessimistic never costs quality.
_ESTIMATE_SLACK = 1.1


@dataclass(frozen=True, repr=False)
class Reencoded:
    """An image re-encoded to fit a byte budget."""

    data: bytes
    format: str
    width: int
    height: int
    quality: int

    @property
    def content_type(self) -> str:
        """Return the MIME type of the encoded bytes."""
        return Image.MIME[self.format]

    def __repr__(self) -> str:
        """Show the shape and size, never the bytes."""
        return (
            f"Reencoded({self.format} q{self.quality}, {self.width}x{self.height}, "
            f"{len(self.data)} bytes)"
        )


class _EncoderFailed(Exception):
    """The encoder gave up on this image (libwebp does on some very noisy pictures)."""


def extension_for(image_format: str) -> str:
    """Return the file extension for a Pillow format name."""
    return _EXTENSIONS.get(image_format, image_format.lower())


def reencode_format(width: int, height: int) -> str:
    """Pick WebP when this Pillow has it and the image is not too large for it, else JPEG."""
    if features.check("webp") and max(width, height) <= _WEBP_MAX_EDGE:
        return "WEBP"
    return "JPEG"


def shrink_to_fit(data: bytes, budget: int) -> Reencoded:
    """Return the best-quality re-encoding of `data` that is at most `budget` bytes."""
    image = _decode(data)
    try:
        image_format = reencode_format(*image.size)
        try:
            return _search(image, budget, image_format)
        except _EncoderFailed:
            if image_format == "JPEG":
                raise CannotFit("the JPEG encoder failed on this image") from None
            log.info("WebP encoder failed on a %dx%d image; using JPEG", *image.size)
        try:
            return _search(image, budget, "JPEG")
        except _EncoderFailed:
            raise CannotFit("the JPEG encoder failed on this image") from None
    finally:
        image.close()


def _decode(data: bytes) -> Image.Image:
    """Decode `data` upright, in a mode both WebP and JPEG encoders accept."""
    image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    try:
        image.load()
        try:
            # Re-encoding drops EXIF, so apply its rotation now or the picture turns sideways.
            ImageOps.exif_transpose(image, in_place=True)
        except Exception:
            # A broken EXIF block is no reason to lose the picture; send it unrotated.
            log.warning("Ignoring unreadable EXIF orientation", exc_info=True)
        if image.mode in ("RGB", "RGBA", "L"):
            return image
        mode = "RGBA" if image.has_transparency_data else "RGB"
        converted = image.convert(mode)
    except BaseException:
        image.close()
        raise
    image.close()
    return converted


def _candidates(width: int, height: int) -> Iterator[tuple[float, int]]:
    """Yield (scale, quality) from best to worst: the quality ladder, then smaller sizes."""
    for quality in QUALITY_LADDER:
        yield 1.0, quality
    scale = SCALE_STEP
    while max(width, height) * scale >= MIN_EDGE:
        yield scale, QUALITY_LADDER[-1]
        scale *= SCALE_STEP


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """Return `size` multiplied by `scale`, at least one pixel each way."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _search(image: Image.Image, budget: int, image_format: str) -> Reencoded:
    """Try candidates from best to worst and return the first that fits in `budget`."""
    floor = QUALITY_LADDER[-1]
    estimates = _estimate_bytes_per_pixel(image, image_format)
    # Bytes per pixel of the last real encode at the floor quality: a better guide for the
    # next smaller size than the mosaic estimate.
    measured: float | None = None
    for scale, quality in _candidates(*image.size):
        width, height = _scaled(image.size, scale)
        pixels = width * height
        per_pixel = measured if quality == floor and measured is not None else None
        per_pixel = per_pixel if per_pixel is not None else estimates.get(quality)
        if per_pixel is not None and per_pixel * pixels > budget * _ESTIMATE_SLACK:
            continue
        data = _encode_at(image, (width, height), image_format, quality)
        log.debug(
            "%s q%d at %dx%d: %d bytes (budget %d)",
            image_format,
            quality,
            width,
            height,
            len(data),
            budget,
        )
        if len(data) <= budget:
            return Reencoded(data, image_format, width, height, quality)
        if quality == floor:
            measured = len(data) / pixels
    raise CannotFit(f"no re-encoding of a {image.width}x{image.height} image fits {budget} bytes")


def _encode_at(image: Image.Image, size: tuple[int, int], image_format: str, quality: int) -> bytes:
    """Encode `image` resized to `size`, freeing the resized copy straight away."""
    if size == image.size:
        return _encode(image, image_format, quality)
    # reducing_gap lets Pillow shrink by whole factors first: much faster, same look.
    resized = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    try:
        return _encode(resized, image_format, quality)
    finally:
        resized.close()


def _encode(image: Image.Image, image_format: str, quality: int) -> bytes:
    """Encode `image` as WEBP or JPEG at `quality`, keeping its colour profile."""
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality}
    icc_profile = image.info.get("icc_profile")
    if icc_profile:
        options["icc_profile"] = icc_profile
    if image_format == "JPEG":
        image = _flatten(image)
        options["optimize"] = True
    else:
        options["method"] = 4
    try:
        image.save(out, image_format, **options)
    except (OSError, ValueError) as exc:
        raise _EncoderFailed(str(exc)) from exc
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """Return `image` without alpha, over white, since JPEG has no transparency."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    background.alpha_composite(image)
    return background.convert("RGB")


def _estimate_bytes_per_pixel(image: Image.Image, image_format: str) -> dict[int, float]:
    """Predict bytes per pixel at each ladder quality from a mosaic of tiles, if worth it."""
    side = _TILE * _GRID
    width, height = image.size
    if width * height < _MIN_PIXELS_TO_ESTIMATE or width < side or height < side:
        return {}
    mosaic = Image.new(image.mode, (side, side))
    try:
        for row in range(_GRID):
            for col in range(_GRID):
                left = (width - _TILE) * col // (_GRID - 1)
                top = (height - _TILE) * row // (_GRID - 1)
                tile = image.crop((left, top, left + _TILE, top + _TILE))
                mosaic.paste(tile, (col * _TILE, row * _TILE))
        return {
            quality: len(_encode(mosaic, image_format, quality)) / (side * side)
            for quality in QUALITY_LADDER
        }
    finally:
        mosaic.close()
