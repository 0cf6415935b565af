"""Real test pictures made with Pillow, plus a shortcut to wrap them as downloads."""

from __future__ import annotations

import io
import random

from PIL import Image

from bot.images.download import DownloadedImage
from bot.images.probe import probe_image

MIB = 1024 * 1024


def noise_image(width: int, height: int, *, seed: int, grain: int = 1) -> Image.Image:
    """Make colour noise; `grain` > 1 blurs it into blobs so it compresses somewhat better."""
    rnd = random.Random(seed)
    small_w, small_h = max(1, width // grain), max(1, height // grain)
    small = Image.frombytes("RGB", (small_w, small_h), rnd.randbytes(small_w * small_h * 3))
    if (small_w, small_h) == (width, height):
        return small
    return small.resize((width, height), Image.Resampling.BILINEAR)


def gradient_image(width: int, height: int) -> Image.Image:
    """Make a smooth gradient: huge as PNG of noise-free pixels, tiny as WebP."""
    ramp = Image.linear_gradient("L")
    across = ramp.transpose(Image.Transpose.ROTATE_90)
    bands = [band.resize((width, height)) for band in (ramp, across, ramp)]
    return Image.merge("RGB", bands)


def banded_image(width: int, height: int, *, seed: int, noise_share: float = 0.27) -> Image.Image:
    """Make a gradient with a band of noise along the bottom, like kie's stand-in at 4K.

    The noise keeps JPEG from compressing it far (about 5.5 MiB at 4K, quality 95), the
    gradient lets a re-encoding shrink it (about 1.6 MiB at 81 % of the size, quality 80).
    """
    picture = gradient_image(width, height)
    rows = round(height * noise_share)
    if rows:
        rnd = random.Random(seed)
        band = Image.frombytes("RGB", (width, rows), rnd.randbytes(width * rows * 3))
        picture.paste(band, (0, height - rows))
    return picture


def banded_jpeg(width: int, height: int, *, seed: int, noise_share: float = 0.27) -> bytes:
    """Make a banded picture (see banded_image) as a quality-95 JPEG."""
    picture = banded_image(width, height, seed=seed, noise_share=noise_share)
    return encode(picture, "JPEG", quality=95)


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    """Encode `image` to bytes in `image_format`."""
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def noise_jpeg(width: int, height: int, *, seed: int, grain: int = 1, quality: int = 95) -> bytes:
    """Make a noise JPEG, which JPEG cannot compress well."""
    return encode(noise_image(width, height, seed=seed, grain=grain), "JPEG", quality=quality)


def as_download(
    data: bytes, url: str = "https://tempfile.aiquickdraw.com/p/x.jpg"
) -> DownloadedImage:
    """Wrap image bytes as if they had just been downloaded and probed."""
    return DownloadedImage.probed(url, data, probe_image(data))
