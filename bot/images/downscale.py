"""Decode a picture upright and make it smaller, as cheaply as the target size allows.

A JPEG at half size or less is decoded reduced (libjpeg scales in the DCT), which takes a
quarter of the memory and CPU or less; exact halving of another picture averages 2 × 2
blocks; anything else is resampled one axis at a time. Blocking: call through
:func:`bot.images.limits.run_in_image_thread` from async code.
"""

from __future__ import annotations

import io
import logging
from typing import Protocol

from PIL import Image, ImageOps

from bot.images.ladder import Rung, half_size
from bot.images.probe import ALLOWED_FORMATS, is_jpeg

__all__ = ["REDUCING_GAP", "RESAMPLE", "Source", "decode", "resized", "shrink"]

log = logging.getLogger(__name__)

# Downscaling filter: as sharp as BICUBIC when shrinking, at two thirds of its CPU (a 4K
# picture to 81 %: 0.20 s against 0.30 s, LANCZOS 0.41 s).
RESAMPLE = Image.Resampling.HAMMING
REDUCING_GAP = 2.0


class _Upright(Protocol):
    """A picture's size after its EXIF orientation is applied (a Profile knows it)."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...


class Source:
    """The picture behind some bytes, decoded on demand: whole, or reduced while decoding.

    Which decode a rung uses depends on the rung alone, so its bytes never depend on what
    was tried before.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._full: Image.Image | None = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the decoded picture, if any."""
        if self._full is not None:
            self._full.close()
            self._full = None

    def full(self) -> Image.Image:
        """Return the whole picture, decoded once."""
        if self._full is None:
            self._full = decode(self.data)
        return self._full

    def take(self, rung: Rung, upright: _Upright) -> Image.Image:
        """Hand over a picture to shrink to `rung`; the caller closes it.

        A JPEG rung at half size or less gets a reduced decode; others the whole picture,
        which this source then forgets (decoded again if another rung needs it), so that
        shrinking can free it half way.
        """
        half_width, half_height = half_size(upright.width, upright.height)
        if is_jpeg(self.data) and rung.width <= half_width and rung.height <= half_height:
            return decode(self.data, reduce_to=(rung.width, rung.height))
        picture = self.full()
        self._full = None
        return picture


def decode(data: bytes, *, reduce_to: tuple[int, int] | None = None) -> Image.Image:
    """Decode `data` upright, as RGB, L, or RGBA if it really has transparency.

    With `reduce_to` (an upright size), a JPEG is decoded at the smallest of 1/2, 1/4 or 1/8
    scale that is still at least that large.
    """
    image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    try:
        if reduce_to is not None and image.format == "JPEG":
            width, height = reduce_to
            # Orientations 5-8 turn the picture a quarter: the stored axes are swapped.
            if image.getexif().get(0x0112) in (5, 6, 7, 8):
                width, height = height, width
            image.draft(None, (width, height))
        image.load()
        try:
            # Re-encoding drops EXIF, so apply its rotation now or the picture turns sideways.
            ImageOps.exif_transpose(image, in_place=True)
        except Exception:
            # A broken EXIF block is no reason to lose the picture; send it unrotated.
            log.warning("Ignoring unreadable EXIF orientation", exc_info=True)
        if image.mode in ("RGB", "L"):
            return image
        converted = image.convert("RGBA" if image.has_transparency_data else "RGB")
    except BaseException:
        image.close()
        raise
    image.close()
    if converted.mode == "RGBA" and converted.getchannel("A").getextrema()[0] == 255:
        # Fully opaque: the alpha channel carries nothing worth WebP's cost.
        opaque = converted.convert("RGB")
        converted.close()
        return opaque
    return converted


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Return `image` at `size` (the image itself if it already is)."""
    if image.size == size:
        return image
    return image.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)


def shrink(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize `picture` to `size`, consuming it: one axis at a time, each input freed as
    soon as the next exists (for 4K to 81 %: 118 MiB at the peak instead of 160). Exact
    halving (a PNG or WebP to the half rung) averages 2 × 2 blocks, much the cheapest."""
    if size == half_size(picture.width, picture.height) and size != picture.size:
        halved = picture.reduce(2)
        picture.close()
        return halved
    for step in ((size[0], picture.height), size):
        if picture.size != step:
            smaller = picture.resize(step, RESAMPLE, reducing_gap=REDUCING_GAP)
            picture.close()
            picture = smaller
    return picture
