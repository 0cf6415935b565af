"""Re-encode an image to a byte budget, keeping as much quality as fits.

Every image has a ladder of rungs, best first: full size at falling JPEG (or WebP) quality,
then smaller sizes at the lowest quality of the ladder. :func:`shrink_to_fit` returns the
first rung that fits. Real encodes are expensive, so a :class:`Profile` estimates the rungs'
sizes once from the image's pixels (mosaics of tiles taken at a few scales, or the whole
picture when it is small); rungs clearly over budget are skipped, and each real encode
corrects the estimates that follow. The planner (:mod:`bot.images.fit`) shares a message's
room between images from their profiles.

Images that share a message use the *shared* ladder: full size at each quality, then half
size at each quality, then smaller. Sizes between half and full would each cost a full
decode and a resize (for a 4K picture about 0.37 s of CPU and 118 MiB at the peak); a JPEG
at half size is decoded reduced inside libjpeg's DCT instead (about 0.09 s and 16 MiB). An
image alone in its message, where the quality matters most and there is one, uses the fine
ladder (steps of 0.9 in size).

Opaque pictures are re-encoded as JPEG: on a 4K picture libjpeg-turbo takes about 0.16 s of
CPU where libwebp takes 1.4 s, for files about 10 % larger. Pictures with real transparency
use WebP, which keeps it. Everything is deterministic (the same bytes and budget give the
same output) and blocking: call through :func:`bot.images.limits.run_in_image_thread` from
async code, which bounds how many pictures are decoded at once.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageOps, features

from bot.images.errors import CannotFit
from bot.images.probe import ALLOWED_FORMATS

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

QUALITY_LADDER = (90, 85, 80)
# Each smaller rung is 0.9 times as wide and high (0.81 times the pixels) as the one before.
SCALE_STEP = 0.9
# Below this long edge a picture is a thumbnail, not a result worth sending.
MIN_EDGE = 64
# libwebp cannot encode an edge longer than this.
_WEBP_MAX_EDGE = 16383
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Downscaling filter: as sharp as BICUBIC when shrinking, at two thirds of its CPU (a 4K
# picture to 81 %: 0.20 s against 0.30 s, LANCZOS 0.41 s).
_RESAMPLE = Image.Resampling.HAMMING
_REDUCING_GAP = 2.0
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
# A rung is tried when its (corrected) estimate is at most this far over the budget, so an
# estimate a little on the high side never costs quality.
_ESTIMATE_SLACK = 1.05


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
        """Return this image's ladder (see :func:`ladder`)."""
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


class _EncoderFailed(Exception):
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


def ladder(width: int, height: int, *, shared: bool = False) -> tuple[Rung, ...]:
    """Return the rungs for a `width` × `height` picture, best first.

    Both ladders start with full size at each quality. The fine one then shrinks by 0.9 at
    the lowest quality; the shared one goes to half size (rounded up, as libjpeg reduces)
    at each quality, then shrinks by 0.9 below that.
    """
    rungs = [Rung(width, height, quality) for quality in QUALITY_LADDER]
    half = ((width + 1) // 2, (height + 1) // 2)
    if shared and half != (width, height):
        rungs += [Rung(*half, quality) for quality in QUALITY_LADDER]
    scale = SCALE_STEP
    while max(width, height) * scale >= MIN_EDGE:
        w, h = _scaled((width, height), scale)
        last = rungs[-1]
        smaller = (w, h) != (last.width, last.height) and w <= last.width and h <= last.height
        if smaller and (not shared or (w < half[0] or h < half[1])):
            rungs.append(Rung(w, h, QUALITY_LADDER[-1]))
        scale *= SCALE_STEP
    return tuple(rungs)


def profile_image(data: bytes) -> Profile:
    """Decode `data` once and sample what its rungs would weigh (see Profile)."""
    image = _decode(data)
    try:
        return _profile_in_some_format(image)
    finally:
        image.close()


def shrink_to_fit(
    data: bytes, budget: int, *, profile: Profile | None = None, shared: bool = False
) -> Reencoded:
    """Return the best rung of `data` that is at most `budget` bytes (CannotFit if none is).

    `shared` picks the shared ladder (for an image that shares its message). `profile`
    (from :func:`profile_image` on the same bytes) saves a decode; the result is the same
    with or without it.
    """
    with _Source(data) as source:
        if profile is None:
            profile = _profile_in_some_format(source.full())
        try:
            return _search(source, profile, budget, shared)
        except _EncoderFailed:
            if profile.format == "JPEG":
                raise CannotFit("the JPEG encoder failed on this image") from None
            log.info(
                "WebP encoder failed on a %dx%d image; using JPEG", profile.width, profile.height
            )
        try:
            return _search(source, _profile(source.full(), "JPEG"), budget, shared)
        except _EncoderFailed:
            raise CannotFit("the JPEG encoder failed on this image") from None


# ----- decoding ----------------------------------------------------------------------------


class _Source:
    """The picture behind some bytes, decoded on demand: whole, or reduced while decoding.

    A JPEG rung at half size or less is decoded reduced (libjpeg scales in the DCT), which
    takes a quarter of the memory and CPU or less. Which decode a rung uses depends on the
    rung alone, so its bytes never depend on what was tried before.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._full: Image.Image | None = None

    def __enter__(self) -> _Source:
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
            self._full = _decode(self.data)
        return self._full

    def take(self, rung: Rung, profile: Profile) -> Image.Image:
        """Hand over a picture to shrink to `rung`; the caller closes it.

        A JPEG rung at half size or less gets a reduced decode; others the whole picture,
        which this source then forgets (decoded again if another rung needs it), so that
        shrinking can free it half way.
        """
        reduced = _is_jpeg(self.data) and (
            rung.width <= (profile.width + 1) // 2 and rung.height <= (profile.height + 1) // 2
        )
        if reduced:
            return _decode(self.data, reduce_to=(rung.width, rung.height))
        picture = self.full()
        self._full = None
        return picture


def _is_jpeg(data: bytes) -> bool:
    """Tell whether `data` starts like a JPEG."""
    return data[:3] == b"\xff\xd8\xff"


def _decode(data: bytes, *, reduce_to: tuple[int, int] | None = None) -> Image.Image:
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


def _profile_in_some_format(image: Image.Image) -> Profile:
    """Profile `image` in its format, or in JPEG if libwebp gives up on it."""
    image_format = _format_for(image)
    try:
        try:
            return _profile(image, image_format)
        except _EncoderFailed:
            if image_format == "JPEG":
                raise
            log.info("WebP encoder failed on a %dx%d image; using JPEG", *image.size)
        return _profile(image, "JPEG")
    except _EncoderFailed:
        raise CannotFit("the JPEG encoder failed on this image") from None


def _format_for(image: Image.Image) -> str:
    """Pick the re-encoding format for a decoded picture."""
    return reencode_format(alpha=image.mode == "RGBA", width=image.width, height=image.height)


# ----- estimating --------------------------------------------------------------------------


def _profile(image: Image.Image, image_format: str) -> Profile:
    """Sample `image`'s bytes per pixel in `image_format` (see _SAMPLES)."""
    width, height = image.size
    fixed = _HEADER_BYTES + len(image.info.get("icc_profile") or b"")
    whole = width * height <= _WHOLE_PICTURE_PIXELS or min(width, height) < _MOSAIC_SIDE
    samples = []
    for wanted, quality in _SAMPLES:
        if wanted == 0.5:
            # The half-size samples at the size libjpeg reduces to (rounded up).
            size = ((width + 1) // 2, (height + 1) // 2)
        else:
            size = _scaled((width, height), wanted)
        if wanted < 1.0 and (max(size) < MIN_EDGE or size == (width, height)):
            continue
        scale = size[0] / width
        if whole:
            resized = _resized(image, size)
            try:
                encoded = len(_encode(resized, image_format, quality))
            finally:
                if resized is not image:
                    resized.close()
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
                        (_TILE, _TILE), _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP
                    )
                mosaic.paste(tile, (col * _TILE, row * _TILE))
                tile.close()
        return len(_encode(mosaic, image_format, quality)) / (_MOSAIC_SIDE * _MOSAIC_SIDE)
    finally:
        mosaic.close()


# ----- searching and encoding --------------------------------------------------------------


def _search(source: _Source, profile: Profile, budget: int, shared: bool) -> Reencoded:
    """Encode rungs from best to worst, skipping hopeless ones; return the first that fits."""
    correction = 1.0
    for rung in profile.ladder(shared=shared):
        estimate = profile.estimate(rung)
        if estimate * correction > budget * _ESTIMATE_SLACK:
            continue
        shrunk = _shrink(source.take(rung, profile), (rung.width, rung.height))
        try:
            data = _encode(shrunk, profile.format, rung.quality)
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


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """Return `size` multiplied by `scale`, at least one pixel each way."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Return `image` at `size` (the image itself if it already is)."""
    if image.size == size:
        return image
    return image.resize(size, _RESAMPLE, reducing_gap=_REDUCING_GAP)


def _shrink(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize `picture` to `size`, consuming it: one axis at a time, each input freed as
    soon as the next exists (for 4K to 81 %: 118 MiB at the peak instead of 160). Exact
    halving (a PNG or WebP to the half rung) averages 2 × 2 blocks, much the cheapest."""
    if size == ((picture.width + 1) // 2, (picture.height + 1) // 2) and size != picture.size:
        halved = picture.reduce(2)
        picture.close()
        return halved
    for step in ((size[0], picture.height), size):
        if picture.size != step:
            smaller = picture.resize(step, _RESAMPLE, reducing_gap=_REDUCING_GAP)
            picture.close()
            picture = smaller
    return picture


def _encode(image: Image.Image, image_format: str, quality: int) -> bytes:
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
        raise _EncoderFailed(str(exc)) from exc
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
