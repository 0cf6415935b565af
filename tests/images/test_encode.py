"""Re-encoding to a byte budget: best quality first, then smaller sizes, always valid."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.images import encode as encode_module
from bot.images.encode import QUALITY_LADDER, reencode_format, shrink_to_fit
from bot.images.errors import CannotFit
from bot.images.probe import probe_image
from tests.images.pictures import encode, gradient_image, noise_image, noise_jpeg


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
    bottom_size = len(encode_module._encode(noise_image(512, 512, seed=11), top.format, 70))
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


def test_jpeg_is_used_without_webp(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pillow built without WebP falls back to JPEG, flattening any alpha."""
    monkeypatch.setattr(encode_module.features, "check", lambda feature: False)
    assert reencode_format(1024, 1024) == "JPEG"
    rgba = noise_image(128, 128, seed=2).convert("RGBA")
    png = encode(rgba, "PNG")
    result = shrink_to_fit(png, len(png) - 1)
    assert result.format == "JPEG"
    assert result.content_type == "image/jpeg"
    assert probe_image(result.data).format == "JPEG"


def test_edges_webp_cannot_encode_use_jpeg() -> None:
    """libwebp stops at 16383 pixels per edge; such images are re-encoded as JPEG."""
    assert reencode_format(16383, 100) == "WEBP"
    assert reencode_format(16384, 100) == "JPEG"


def test_webp_encoder_failure_falls_back_to_jpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """If libwebp gives up on a picture, the JPEG ladder is tried instead of failing."""
    real_encode = encode_module._encode

    def webp_fails(image: Image.Image, image_format: str, quality: int) -> bytes:
        if image_format == "WEBP":
            raise encode_module._EncoderFailed("encoding error 6")
        return real_encode(image, image_format, quality)

    monkeypatch.setattr(encode_module, "_encode", webp_fails)
    data = noise_jpeg(128, 128, seed=4)
    result = shrink_to_fit(data, len(data) - 1)
    assert result.format == "JPEG"
