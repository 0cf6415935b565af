"""Re-encode an image to a byte budget, keeping as much quality as fits.

Every image has a ladder of rungs, best first (bot/images/ladder.py): full size at falling
JPEG (or WebP) quality, then smaller sizes at the lowest quality of the ladder.
:func:`shrink_to_fit` returns the first rung that fits. Real encodes are expensive, so a
:class:`~bot.images.estimate.Profile` estimates the rungs' sizes once from the image's pixels
(bot/images/estimate.py); rungs clearly over budget are skipped, and each real encode corrects
the estimates that follow. Images that share a message use the shared ladder, an image alone
in its message (where the quality matters most, and there is one) the fine ladder:
bot/images/ladder.py says why.

The format (JPEG for opaque pictures, WebP for transparent ones) is chosen in
bot/images/formats.py, the decoding and shrinking are in bot/images/downscale.py. Everything
is deterministic (the same bytes and budget give the same output) and blocking: call through
:func:`bot.images.limits.run_in_image_thread` from async code, which bounds how many pictures
are decoded at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PIL import Image

from bot.images import formats
from bot.images.downscale import Source, shrink
from bot.images.errors import CannotFit
from bot.images.estimate import Profile, profile_image, profile_in_some_format, profile_picture
from bot.images.formats import extension_for, reencode_format
from bot.images.ladder import MIN_EDGE, QUALITY_LADDER, SCALE_STEP, Rung, ladder

__all__ = [
    "MIN_EDGE",
    "QUALITY_LADDER",
    "SCALE_STEP",
    "Profile",
    "Reencoded",
    "Rung",
    "extension_for",
    "ladder",
    "profile_image",
    "reencode_format",
    "shrink_to_fit",
]

log = logging.getLogger(__name__)

# A rung is tried when its (corrected) estimate is at most this far over the budget, so an
# estimate a little on the high side never costs quality.
_ESTIMATE_SLACK = 1.05


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


def shrink_to_fit(
    data: bytes, budget: int, *, profile: Profile | None = None, shared: bool = False
) -> Reencoded:
    """Return the best rung of `data` that is at most `budget` bytes (CannotFit if none is).

    `shared` picks the shared ladder (for an image that shares its message). `profile`
    (from :func:`profile_image` on the same bytes) saves a decode; the result is the same
    with or without it.
    """
    with Source(data) as source:
        given = profile if profile is not None else profile_in_some_format(source.full())

        def search_in(image_format: str) -> Reencoded:
            # The given profile for its own format; a JPEG one, made now, if WebP gave up.
            if image_format == given.format:
                return _search(source, given, budget, shared)
            return _search(source, profile_picture(source.full(), image_format), budget, shared)

        return formats.with_jpeg_fallback(search_in, given.format, given.width, given.height)


def _search(source: Source, profile: Profile, budget: int, shared: bool) -> Reencoded:
    """Encode rungs from best to worst, skipping hopeless ones; return the first that fits."""
    correction = 1.0
    for rung in profile.ladder(shared=shared):
        estimate = profile.estimate(rung)
        if estimate * correction > budget * _ESTIMATE_SLACK:
            continue
        shrunk = shrink(source.take(rung, profile), (rung.width, rung.height))
        try:
            data = formats.encode(shrunk, profile.format, rung.quality)
        finally:
            shrunk.close()
        log.debug(
            "%s q%d at %dx%d: %d bytes, estimated %d (budget %d)",
            profile.format,
            rung.quality,
            rung.width,
            rung.height,
            len(data),
            estimate * correction,
            budget,
        )
        if len(data) <= budget:
            return Reencoded(data, profile.format, rung.width, rung.height, rung.quality)
        # This picture encodes bigger than its estimates say: trust them that much less.
        correction = max(correction, len(data) / estimate)
    raise CannotFit(
        f"no re-encoding of a {profile.width}x{profile.height} image fits {budget} bytes"
    )
