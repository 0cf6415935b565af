"""Test pictures, generated once per session because 4K pictures take a moment to make."""

from __future__ import annotations

import pytest

from bot.images.download import DownloadedImage
from bot.images.fit import Part, plan_messages_blocking
from tests.images.pictures import MIB, as_download, banded_jpeg, noise_jpeg

TEN_MIB = 10 * MIB


@pytest.fixture(scope="session")
def four_k_images() -> list[DownloadedImage]:
    """Six 4096 × 4096 JPEGs of about 5.3 MiB each (32 MiB in all), as Seedream gives at 4K."""
    return [
        as_download(
            banded_jpeg(4096, 4096, seed=seed),
            url=f"https://tempfile.aiquickdraw.com/p/task_{seed}.jpg?sig=SECRET",
        )
        for seed in range(6)
    ]


@pytest.fixture(scope="session")
def plan_10_mib(four_k_images: list[DownloadedImage]) -> list[Part]:
    """The plan for the six 4K images under Discord's default 10 MiB limit (computed once)."""
    return plan_messages_blocking(four_k_images, limit_bytes=TEN_MIB, stem="imagine")


@pytest.fixture(scope="session")
def small_jpegs() -> list[bytes]:
    """A dozen small noise JPEGs for tests about counts, names and order."""
    return [noise_jpeg(64, 48, seed=seed) for seed in range(12)]


@pytest.fixture(scope="session")
def mid_images() -> list[DownloadedImage]:
    """Six 1280 × 1280 banded JPEGs of about 600 KiB each: big enough to be estimated from
    a mosaic, as 4K pictures are, and quick to re-encode."""
    return [as_download(banded_jpeg(1280, 1280, seed=10 + seed)) for seed in range(6)]
