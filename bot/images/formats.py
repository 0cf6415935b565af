"""Which format a re-encoding is written in, and writing a picture in it.

Opaque pictures are re-encoded as JPEG: on a 4K picture libjpeg-turbo takes about 0.16 s of
CPU where libwebp takes 1.4 s, for files about 10 % larger. Pictures with real transparency
use WebP, which keeps it; when libwebp gives up on a picture (it does on some very noisy
ones) the work is done again in JPEG.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import TypeVar

from PIL import Image, features

from bot.images.errors import CannotFit

__all__ = [
    "EncoderFailed",
    "encode",
    "extension_for",
    "format_for",
    "reencode_format",
    "with_jpeg_fallback",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# libwebp cannot encode an edge longer than this.
_WEBP_MAX_EDGE = 16383
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class EncoderFailed(Exception):
    """The encoder gave up on this image (libwebp does on some very noisy pictures)."""


def extension_for(image_format: str) -> str:
    """Return the file extension for a Pillow format name."""
    return _EXTENSIONS.get(image_format, image_format.lower())


def reencode_format(*, alpha: bool, width: int, height: int) -> str:
    """Pick JPEG for opaque pictures; WebP for transparent ones when this Pillow has it and
    the edges fit (JPEG then, which flattens the picture over white)."""
    if alpha and features.check("webp") and max(width, height) <= _WEBP_MAX_EDGE:
        return "WEBP"
    return "JPEG"


def format_for(image: Image.Image) -> str:
    """Pick the re-encoding format for a decoded picture."""
    return reencode_format(alpha=image.mode == "RGBA", width=image.width, height=image.height)


def with_jpeg_fallback(
    attempt: Callable[[str], T], image_format: str, width: int, height: int
) -> T:
    """Return ``attempt(image_format)``; if libwebp gives up, ``attempt("JPEG")`` instead.

    Raises CannotFit when the JPEG encoder fails, since no other format is left to try.
    """
    try:
        try:
            return attempt(image_format)
        except EncoderFailed:
            if image_format == "JPEG":
                raise
            log.info("WebP encoder failed on a %dx%d image; using JPEG", width, height)
        return attempt("JPEG")
    except EncoderFailed:
        raise CannotFit("the JPEG encoder failed on this image") from None


def encode(image: Image.Image, image_format: str, quality: int) -> bytes:
    """Encode `image` as WEBP or JPEG at `quality`, keeping its colour profile."""
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality}
    icc_profile = image.info.get("icc_profile")
    if icc_profile:
        options["icc_profile"] = icc_profile
    flat: Image.Image | None = None
    if image_format == "JPEG":
        if image.mode == "RGBA":
            flat = _flatten(image)
            image = flat
        options["optimize"] = True
    else:
        options["method"] = 4
    try:
        image.save(out, image_format, **options)
    except (OSError, ValueError) as exc:
        raise EncoderFailed(str(exc)) from exc
    finally:
        if flat is not None:
            flat.close()
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """Return `image` without alpha, over white, since JPEG has no transparency."""
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    background.alpha_composite(image)
    flat = background.convert("RGB")
    background.close()
    return flat
