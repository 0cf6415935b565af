"""Check that a byte string is a complete, sanely sized JPEG, PNG or WebP image.

Blocking (Pillow decodes in C): call it through :func:`bot.images.limits.run_in_image_thread`
from async code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from bot.images.errors import NotAnImage

__all__ = ["ALLOWED_FORMATS", "DEFAULT_MAX_PIXELS", "ImageInfo", "is_jpeg", "probe_image"]

# The formats Seedream returns and Discord previews; anything else is refused.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
# 8192 × 8192: twice the edge of kie's largest (4K) output, and well under Pillow's own
# bomb threshold, so we refuse before Pillow even warns.
DEFAULT_MAX_PIXELS = 8192 * 8192
# JPEG can decode at 1/8 scale while still reading every byte, which is all a probe needs.
_DRAFT_DIVISOR = 8


def is_jpeg(data: bytes) -> bool:
    """Tell whether `data` starts like a JPEG (which Pillow can decode reduced, cheaply)."""
    return data[:3] == b"\xff\xd8\xff"


@dataclass(frozen=True)
class ImageInfo:
    """What the probe learned about an image."""

    format: str
    width: int
    height: int
    content_type: str


def probe_image(
    data: bytes, *, url: str = "<image>", max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageInfo:
    """Open, verify and fully decode `data`, or raise NotAnImage naming the redacted `url`."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            image_format = image.format or ""
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > max_pixels:
                raise NotAnImage(
                    f"{url}: {width}×{height} pixels is outside the allowed size", url=url
                )
            image.verify()
        # verify() checks little beyond PNG checksums and leaves the image unusable, so
        # decode once more: that is what catches a truncated JPEG or WebP.
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            image.draft("RGB", (max(1, width // _DRAFT_DIVISOR), max(1, height // _DRAFT_DIVISOR)))
            image.load()
    except NotAnImage:
        raise
    except Image.DecompressionBombError:
        raise NotAnImage(f"{url}: too many pixels (decompression bomb guard)", url=url) from None
    # Pillow raises a zoo of types on hostile input (OSError, SyntaxError, struct.error,
    # ValueError, ...); each one means the same thing here.
    except Exception as exc:  # noqa: BLE001 - Pillow raises many exception types for bad data
        raise NotAnImage(
            f"{url}: not a valid JPEG, PNG or WebP image ({type(exc).__name__}: {exc})", url=url
        ) from None
    content_type = Image.MIME.get(image_format, "application/octet-stream")
    return ImageInfo(format=image_format, width=width, height=height, content_type=content_type)
