"""Test pictures, generated once per session because 4K noise takes a moment to make."""

from __future__ import annotations

import pytest

from bot.images.download import DownloadedImage
from bot.images.fit import Attachment, plan_messages_blocking
from tests.images.pictures import as_download, noise_jpeg

# (grain, JPEG quality, seed) of six 4096 × 4096 noise pictures, sized so that under a 10 MiB
# limit two need re-encoding, two share a message and the rest go alone; sizes in MiB.
FOUR_K_RECIPES = (
    (2, 80, 1),  # ≈ 7.2: fits alone
    (2, 95, 2),  # ≈ 13.7: over 10 MiB, must be re-encoded
    (8, 80, 3),  # ≈ 3.2 ┐ share a message
    (16, 90, 4),  # ≈ 3.0 ┘
    (4, 90, 5),  # ≈ 7.1: fits alone
    (2, 95, 6),  # ≈ 13.7: over 10 MiB, must be re-encoded
)


@pytest.fixture(scope="session")
def four_k_images() -> list[DownloadedImage]:
    """Six 4K noise JPEGs of several MiB each, as Seedream might return at 4K."""
    return [
        as_download(
            noise_jpeg(4096, 4096, seed=seed, grain=grain, quality=quality),
            url=f"https://tempfile.aiquickdraw.com/p/task_{index}.jpg?sig=SECRET",
        )
        for index, (grain, quality, seed) in enumerate(FOUR_K_RECIPES)
    ]


@pytest.fixture(scope="session")
def plan_10_mib(four_k_images: list[DownloadedImage]) -> list[list[Attachment]]:
    """The plan for the six 4K images under Discord's default 10 MiB limit (computed once)."""
    return plan_messages_blocking(four_k_images, limit_bytes=10 * 1024 * 1024, stem="imagine")


@pytest.fixture(scope="session")
def small_jpegs() -> list[bytes]:
    """A dozen small noise JPEGs for tests about counts, names and order."""
    return [noise_jpeg(64, 48, seed=seed) for seed in range(12)]
