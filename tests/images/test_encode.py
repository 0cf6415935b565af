"""Re-encoding to a byte budget: best quality first, then smaller sizes, always valid."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from bot.images import downscale, formats
from bot.images import encode as encode_module
from bot.images.encode import (
    MIN_EDGE,
    QUALITY_LADDER,
    ladder,
    profile_image,
    reencode_format,
    shrink_to_fit,
)
from bot.images.errors import CannotFit
from bot.images.probe import probe_image
from tests.images.pictures import banded_image, banded_jpeg, encode, gradient_image, noise_image


@pytest.fixture(scope="module")
def noise_png() -> bytes:
    """A 512 × 512 noise PNG of about 770 KB that no quality setting squeezes far."""
    return encode(noise_image(512, 512, seed=11), "PNG")


def test_smooth_image_keeps_full_size_and_top_quality() -> None:
    """When the top rung fits, the picture is neither degraded further nor downscaled."""
    png = encode(gradient_image(800, 600), "PNG", compress_level=0)
    result = shrink_to_fit(png, len(png) // 4)
    assert (result.width, result.height, result.quality) == (800, 600, QUALITY_LADDER[0])
    assert len(result.data) <= len(png) // 4


def test_noise_is_downscaled_until_it_fits(noise_png: bytes) -> None:
    """A budget no quality reaches at full size is met by downscaling, with a valid result."""
    budget = 60_000
    result = shrink_to_fit(noise_png, budget)
    assert len(result.data) <= budget
    assert result.width < 512
    assert result.quality == QUALITY_LADDER[-1]
    info = probe_image(result.data)
    assert (info.format, info.width, info.height) == (result.format, result.width, result.height)
    # The aspect ratio survives the downscale.
    assert result.width == result.height


def test_a_lower_rung_is_used_before_downscaling(noise_png: bytes) -> None:
    """A budget between the top and bottom rung keeps full size at a lower quality."""
    top = shrink_to_fit(noise_png, 10**9)
    bottom = QUALITY_LADDER[-1]
    bottom_size = len(formats.encode(noise_image(512, 512, seed=11), top.format, bottom))
    result = shrink_to_fit(noise_png, (len(top.data) + bottom_size) // 2)
    assert (result.width, result.height) == (512, 512)
    assert result.quality < QUALITY_LADDER[0]


def test_tiny_budgets_raise_cannot_fit(noise_png: bytes) -> None:
    """Below what a thumbnail needs, shrinking gives up with CannotFit."""
    with pytest.raises(CannotFit):
        shrink_to_fit(noise_png, 100)


def test_same_input_same_bytes(noise_png: bytes) -> None:
    """Re-encoding is deterministic, so plans are reproducible."""
    assert shrink_to_fit(noise_png, 120_000).data == shrink_to_fit(noise_png, 120_000).data


def test_exif_rotation_is_applied() -> None:
    """A JPEG marked 'rotate 90°' comes out upright, since the EXIF tag is dropped."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    data = encode(noise_image(200, 100, seed=5), "JPEG", quality=95, exif=exif.tobytes())
    result = shrink_to_fit(data, len(data) - 1)
    assert (result.width, result.height) == (100, 200)


def test_transparency_survives_webp() -> None:
    """A PNG with alpha keeps its alpha when re-encoded as WebP."""
    rgba = noise_image(256, 256, seed=9).convert("RGBA")
    rgba.putalpha(128)
    png = encode(rgba, "PNG")
    result = shrink_to_fit(png, len(png) - 1)
    assert result.format == "WEBP"
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.mode == "RGBA"


def test_opaque_pictures_become_jpeg() -> None:
    """Without transparency JPEG is used: it encodes a 4K picture several times faster."""
    assert reencode_format(alpha=False, width=1024, height=1024) == "JPEG"
    opaque = noise_image(128, 128, seed=2).convert("RGBA")
    png = encode(opaque, "PNG")
    result = shrink_to_fit(png, len(png) - 1)
    assert result.format == "JPEG"
    assert result.content_type == "image/jpeg"


def test_jpeg_is_used_without_webp(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pillow built without WebP falls back to JPEG, flattening any alpha."""
    monkeypatch.setattr(formats.features, "check", lambda feature: False)
    assert reencode_format(alpha=True, width=1024, height=1024) == "JPEG"
    rgba = noise_image(128, 128, seed=2).convert("RGBA")
    rgba.putalpha(128)
    png = encode(rgba, "PNG")
    result = shrink_to_fit(png, len(png) - 1)
    assert result.format == "JPEG"
    assert result.content_type == "image/jpeg"
    assert probe_image(result.data).format == "JPEG"


def test_edges_webp_cannot_encode_use_jpeg() -> None:
    """libwebp stops at 16383 pixels per edge; such images are re-encoded as JPEG."""
    assert reencode_format(alpha=True, width=16383, height=100) == "WEBP"
    assert reencode_format(alpha=True, width=16384, height=100) == "JPEG"


def test_webp_encoder_failure_falls_back_to_jpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """If libwebp gives up on a picture, the JPEG ladder is tried instead of failing."""
    real_encode = formats.encode

    def webp_fails(image: Image.Image, image_format: str, quality: int) -> bytes:
        if image_format == "WEBP":
            raise formats.EncoderFailed("encoding error 6")
        return real_encode(image, image_format, quality)

    monkeypatch.setattr(formats, "encode", webp_fails)
    rgba = noise_image(128, 128, seed=4).convert("RGBA")
    rgba.putalpha(200)
    data = encode(rgba, "PNG")
    result = shrink_to_fit(data, len(data) - 1)
    assert result.format == "JPEG"


def test_the_fine_ladder_goes_from_best_to_worst() -> None:
    """Full size at falling quality first, then ever smaller sizes, down to a thumbnail."""
    rungs = ladder(4096, 3072)
    assert [r.quality for r in rungs[: len(QUALITY_LADDER)]] == list(QUALITY_LADDER)
    assert all((r.width, r.height) == (4096, 3072) for r in rungs[: len(QUALITY_LADDER)])
    smaller = rungs[len(QUALITY_LADDER) :]
    assert all(a.width > b.width for a, b in itertools.pairwise(smaller))
    assert smaller[0].width == round(4096 * encode_module.SCALE_STEP)
    assert MIN_EDGE <= smaller[-1].long_edge < MIN_EDGE / encode_module.SCALE_STEP + 1
    assert all(abs(r.width / r.height - 4 / 3) < 0.05 for r in smaller)


def test_the_shared_ladder_jumps_from_full_to_half_size() -> None:
    """Sharing, an image goes from full size to half size (each at every quality), then on
    down; nothing in between, where every rung would cost a full decode and a resize."""
    rungs = ladder(4095, 3071, shared=True)
    steps = len(QUALITY_LADDER)
    assert [(r.width, r.height) for r in rungs[:steps]] == [(4095, 3071)] * steps
    assert [(r.width, r.height) for r in rungs[steps : 2 * steps]] == [(2048, 1536)] * steps
    assert [r.quality for r in rungs[: 2 * steps]] == list(QUALITY_LADDER) * 2
    assert all(r.width < 2048 for r in rungs[2 * steps :])
    assert rungs[-1].long_edge >= MIN_EDGE


@pytest.mark.parametrize(("side", "shared"), [(800, False), (1600, False), (1600, True)])
def test_estimates_are_close_to_real_sizes(side: int, shared: bool) -> None:
    """A profile's estimates (exact for small pictures, a mosaic for big ones) are near the
    real encodes, so the search rarely encodes a rung twice."""
    data = banded_jpeg(side, side, seed=3)
    profile = profile_image(data)
    rungs = profile.ladder(shared=shared)
    for rung in (rungs[0], rungs[len(QUALITY_LADDER)], rungs[len(QUALITY_LADDER) + 4]):
        with downscale.Source(data) as source:
            picture = source.take(rung, profile)
            shrunk = downscale.shrink(picture, (rung.width, rung.height))
        real = len(formats.encode(shrunk, "JPEG", rung.quality))
        assert 0.75 * real <= profile.estimate(rung) <= 1.25 * real


def test_a_profile_changes_nothing_but_the_work() -> None:
    """With or without a profile made beforehand, the same bytes come out."""
    data = banded_jpeg(1600, 1200, seed=4)
    budget = len(data) // 3
    for shared in (False, True):
        assert (
            shrink_to_fit(data, budget, shared=shared).data
            == shrink_to_fit(data, budget, profile=profile_image(data), shared=shared).data
        )


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_half_size_is_made_cheaply(monkeypatch: pytest.MonkeyPatch, image_format: str) -> None:
    """At half size, a JPEG is decoded reduced (never whole) and a PNG halved by 2 × 2
    averaging, never resampled."""
    picture = banded_image(2048, 1536, seed=5)
    data = encode(picture, image_format, **({"quality": 95} if image_format == "JPEG" else {}))
    profile = profile_image(data)
    floor = profile.floor(1024)
    assert (floor.width, floor.height) == (1024, 768)
    with downscale.Source(data) as source:
        half = downscale.shrink(source.take(floor, profile), (1024, 768))
    budget = len(formats.encode(half, "JPEG", floor.quality))
    decodes: list[tuple[int, int] | None] = []
    real_decode = downscale.decode

    def spy(data: bytes, *, reduce_to: tuple[int, int] | None = None) -> Image.Image:
        decodes.append(reduce_to)
        return real_decode(data, reduce_to=reduce_to)

    def no_resampling(*args: object, **kwargs: object) -> Image.Image:
        raise AssertionError("resampled")

    monkeypatch.setattr(downscale, "decode", spy)
    monkeypatch.setattr(Image.Image, "resize", no_resampling)
    result = shrink_to_fit(data, budget, profile=profile, shared=True)
    assert (result.width, result.height) == (1024, 768)
    assert len(result.data) <= budget
    if image_format == "JPEG":
        assert decodes and all(size is not None for size in decodes)
    assert probe_image(result.data).width == 1024
