"""Probing bytes: only complete JPEG, PNG and WebP images of a sane size pass."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from bot.images.errors import NotAnImage
from bot.images.probe import probe_image
from tests.images.pictures import encode, noise_image


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    """A small noise picture to encode in every format."""
    return noise_image(120, 80, seed=3)


@pytest.mark.parametrize(
    ("image_format", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
def test_accepted_formats(picture: Image.Image, image_format: str, content_type: str) -> None:
    """JPEG, PNG and WebP pass, with their size and the content type of the bytes."""
    info = probe_image(encode(picture, image_format))
    assert (info.format, info.width, info.height) == (image_format, 120, 80)
    assert info.content_type == content_type


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """Frame one PNG chunk with its length and checksum."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """Make a tiny PNG whose header announces `width` × `height` pixels it does not carry."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    pixels = png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + header + pixels + png_chunk(b"IEND", b"")


def corrupt_png_crc(data: bytes) -> bytes:
    """Flip a byte inside the first IDAT chunk so its checksum no longer matches."""
    at = data.index(b"IDAT") + 8
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(lambda p: b"", id="empty"),
        pytest.param(lambda p: b"<html>403 Forbidden</html>", id="html"),
        pytest.param(lambda p: encode(p, "GIF"), id="gif"),
        pytest.param(lambda p: encode(p, "BMP"), id="bmp"),
        pytest.param(lambda p: encode(p, "JPEG")[:-400], id="truncated-jpeg"),
        pytest.param(lambda p: encode(p, "PNG")[:-100], id="truncated-png"),
        pytest.param(lambda p: encode(p, "WEBP")[:-100], id="truncated-webp"),
        pytest.param(lambda p: corrupt_png_crc(encode(p, "PNG")), id="bad-png-crc"),
        pytest.param(lambda p: png_claiming(100_000, 100_000), id="bomb-header"),
        pytest.param(lambda p: png_claiming(9000, 8000), id="too-many-pixels"),
    ],
)
def test_refused_bytes(picture: Image.Image, make_bad) -> None:
    """Anything that is not a complete, sanely sized JPEG, PNG or WebP is refused."""
    with pytest.raises(NotAnImage):
        probe_image(make_bad(picture), url="https://file.aiquickdraw.com/x.jpg")


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [(100_000, 100_000, "decompression bomb"), (9000, 8000, "outside the allowed size")],
)
def test_huge_images_are_refused_before_decoding(width: int, height: int, reason: str) -> None:
    """A header announcing too many pixels is refused by the size check, not by running out."""
    with pytest.raises(NotAnImage, match=reason):
        probe_image(png_claiming(width, height))


def test_pixel_cap_is_configurable(picture: Image.Image) -> None:
    """A caller may lower the pixel cap; the message names the size and the URL."""
    with pytest.raises(NotAnImage, match=r"120×80") as caught:
        probe_image(encode(picture, "PNG"), url="https://h/x.png", max_pixels=100)
    assert caught.value.url == "https://h/x.png"
