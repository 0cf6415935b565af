"""Planning messages under Discord's upload limit: order, budget, file count, originals kept."""

from __future__ import annotations

import pytest

from bot.images.download import DownloadedImage
from bot.images.errors import CannotFit
from bot.images.fit import (
    DEFAULT_HEADROOM,
    MAX_FILES_PER_MESSAGE,
    Attachment,
    pack_in_order,
    plan_messages,
    plan_messages_blocking,
    safe_stem,
)
from bot.images.probe import probe_image
from tests.images.pictures import MIB, as_download, encode, gradient_image, noise_jpeg

TEN_MIB = 10 * MIB


def flatten(plan: list[list[Attachment]]) -> list[Attachment]:
    """Return the attachments of every message, in delivery order."""
    return [attachment for message in plan for attachment in message]


def fake_attachment(index: int, size: int) -> Attachment:
    """Make an attachment of `size` bytes whose content does not matter."""
    return Attachment(
        filename=f"x_{index + 1}.jpg",
        data=b"\0" * size,
        content_type="image/jpeg",
        width=1,
        height=1,
        original_index=index,
        reencoded=False,
        original_bytes=size,
    )


def test_every_message_fits_the_limit_with_headroom(plan_10_mib: list[list[Attachment]]) -> None:
    """No message goes over 10 MiB minus the headroom, nor over ten files."""
    for message in plan_10_mib:
        assert sum(attachment.size for attachment in message) <= TEN_MIB - DEFAULT_HEADROOM
        assert 1 <= len(message) <= MAX_FILES_PER_MESSAGE


def test_all_images_are_delivered_once_in_order(plan_10_mib: list[list[Attachment]]) -> None:
    """Images 1..6 each appear exactly once, in order, numbered in their filenames."""
    attachments = flatten(plan_10_mib)
    assert [a.original_index for a in attachments] == [0, 1, 2, 3, 4, 5]
    assert [a.filename.rsplit(".", 1)[0] for a in attachments] == [
        f"imagine_{n}" for n in range(1, 7)
    ]
    assert len(plan_10_mib) <= len(attachments)


def test_images_that_fit_alone_stay_byte_identical(
    plan_10_mib: list[list[Attachment]], four_k_images: list[DownloadedImage]
) -> None:
    """Every image under the budget is sent as the very bytes kie served."""
    budget = TEN_MIB - DEFAULT_HEADROOM
    for attachment in flatten(plan_10_mib):
        original = four_k_images[attachment.original_index]
        if original.size <= budget:
            assert not attachment.reencoded
            assert attachment.data == original.data
            assert attachment.filename.endswith(".jpg")
            assert attachment.original_bytes == original.size
    assert sum(not a.reencoded for a in flatten(plan_10_mib)) == 4


def test_oversized_images_are_reencoded_into_valid_images(
    plan_10_mib: list[list[Attachment]], four_k_images: list[DownloadedImage]
) -> None:
    """The two images over 10 MiB come back smaller, as real images named for their format."""
    reencoded = [a for a in flatten(plan_10_mib) if a.reencoded]
    assert [a.original_index for a in reencoded] == [1, 5]
    for attachment in reencoded:
        info = probe_image(attachment.data)
        assert (info.width, info.height) == (attachment.width, attachment.height)
        assert info.content_type == attachment.content_type
        assert attachment.filename.endswith("." + {"WEBP": "webp", "JPEG": "jpg"}[info.format])
        assert attachment.original_bytes == four_k_images[attachment.original_index].size
        assert attachment.size < attachment.original_bytes


def test_images_that_fit_together_share_a_message(plan_10_mib: list[list[Attachment]]) -> None:
    """The two ~3 MiB images travel together instead of in separate messages."""
    assert [[a.original_index for a in message] for message in plan_10_mib] == [
        [0],
        [1],
        [2, 3],
        [4],
        [5],
    ]


async def test_a_25_mib_limit_puts_more_in_each_message(
    four_k_images: list[DownloadedImage], plan_10_mib: list[list[Attachment]]
) -> None:
    """With a boosted server's 25 MiB, nothing is re-encoded and fewer messages are needed."""
    plan = await plan_messages(four_k_images, limit_bytes=25 * MIB, stem="imagine")
    assert len(plan) < len(plan_10_mib)
    assert max(len(message) for message in plan) > max(len(message) for message in plan_10_mib)
    assert [a.original_index for a in flatten(plan)] == list(range(6))
    assert not any(a.reencoded for a in flatten(plan))
    for message in plan:
        assert sum(a.size for a in message) <= 25 * MIB - DEFAULT_HEADROOM


async def test_one_image_that_fits_is_one_untouched_message() -> None:
    """A single image under the limit is sent as is, in one message."""
    data = noise_jpeg(1024, 1024, seed=7)
    plan = await plan_messages([as_download(data)], limit_bytes=TEN_MIB, stem="imagine")
    assert len(plan) == 1
    [[attachment]] = plan
    assert attachment.data is data
    assert not attachment.reencoded
    assert attachment.filename == "imagine_1.jpg"
    assert (attachment.width, attachment.height) == (1024, 1024)
    assert attachment.content_type == "image/jpeg"


def test_spoiler_files_get_discords_prefix(small_jpegs: list[bytes]) -> None:
    """With spoiler on, every filename starts with SPOILER_ and keeps its number."""
    images = [as_download(data) for data in small_jpegs[:3]]
    plan = plan_messages_blocking(images, limit_bytes=TEN_MIB, stem="cat", spoiler=True)
    assert [a.filename for a in flatten(plan)] == [
        "SPOILER_cat_1.jpg",
        "SPOILER_cat_2.jpg",
        "SPOILER_cat_3.jpg",
    ]


def test_at_most_ten_files_per_message(small_jpegs: list[bytes]) -> None:
    """Twelve small images that fit in bytes still need two messages: ten, then two."""
    images = [as_download(data) for data in small_jpegs]
    plan = plan_messages_blocking(images, limit_bytes=TEN_MIB, stem="imagine")
    assert [len(message) for message in plan] == [10, 2]
    assert [a.original_index for a in flatten(plan)] == list(range(12))


def test_reencoded_file_takes_the_extension_of_its_bytes() -> None:
    """A PNG that must shrink is named .webp (or .jpg), never still .png."""
    png = encode(gradient_image(1024, 1024), "PNG", compress_level=0)
    plan = plan_messages_blocking(
        [as_download(png)], limit_bytes=len(png) // 2, stem="g", headroom=0
    )
    [[attachment]] = plan
    assert attachment.reencoded
    assert attachment.filename in {"g_1.webp", "g_1.jpg"}
    # A smooth picture fits at the top rung: full size, no downscale.
    assert (attachment.width, attachment.height) == (1024, 1024)


def test_plans_are_deterministic() -> None:
    """The same input gives byte-identical plans, re-encoded files included."""
    images = [as_download(noise_jpeg(512, 512, seed=seed)) for seed in range(3)]
    limit = 200 * 1024
    first = plan_messages_blocking(images, limit_bytes=limit, stem="d", headroom=0)
    second = plan_messages_blocking(images, limit_bytes=limit, stem="d", headroom=0)
    assert [[(a.filename, a.data) for a in m] for m in first] == [
        [(a.filename, a.data) for a in m] for m in second
    ]
    assert any(a.reencoded for a in flatten(first))


def test_no_images_means_no_messages() -> None:
    """An empty result plans no message at all."""
    assert plan_messages_blocking([], limit_bytes=TEN_MIB, stem="imagine") == []


@pytest.mark.parametrize(
    ("limit_bytes", "headroom"),
    [(DEFAULT_HEADROOM, DEFAULT_HEADROOM), (0, 0), (1000, 2000)],
)
def test_a_limit_without_room_is_refused(limit_bytes: int, headroom: int) -> None:
    """A limit that leaves no budget after the headroom is a caller error."""
    with pytest.raises(ValueError, match="headroom"):
        plan_messages_blocking([], limit_bytes=limit_bytes, stem="x", headroom=headroom)


def test_an_image_that_cannot_shrink_enough_raises() -> None:
    """A budget smaller than any sensible thumbnail raises CannotFit."""
    image = as_download(noise_jpeg(256, 256, seed=1))
    with pytest.raises(CannotFit):
        plan_messages_blocking([image], limit_bytes=200, stem="x", headroom=0)


@pytest.mark.parametrize(
    ("sizes", "budget", "max_files", "expected"),
    [
        ([5, 5], 10, 10, [[0, 1]]),
        ([5, 6], 10, 10, [[0], [1]]),
        ([3, 9, 1], 10, 10, [[0], [1, 2]]),
        ([10, 10, 10], 10, 10, [[0], [1], [2]]),
        ([1] * 5, 100, 2, [[0, 1], [2, 3], [4]]),
        ([], 10, 10, []),
    ],
)
def test_pack_in_order(
    sizes: list[int], budget: int, max_files: int, expected: list[list[int]]
) -> None:
    """Greedy in-order packing respects the byte budget and the file count."""
    attachments = [fake_attachment(index, size) for index, size in enumerate(sizes)]
    plan = pack_in_order(attachments, budget=budget, max_files=max_files)
    assert [[a.original_index for a in message] for message in plan] == expected


def test_pack_refuses_a_file_over_budget() -> None:
    """Packing never hides a file that cannot fit any message."""
    with pytest.raises(ValueError, match="budget"):
        pack_in_order([fake_attachment(0, 11)], budget=10)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("imagine", "imagine"),
        ("a cat/../dog", "a_cat_dog"),
        ("über?", "ber"),
        ("", "image"),
        ("///", "image"),
        ("x" * 100, "x" * 64),
    ],
)
def test_safe_stem(stem: str, expected: str) -> None:
    """Stems are reduced to safe filename characters, never empty."""
    assert safe_stem(stem) == expected


def test_attachment_repr_hides_bytes() -> None:
    """An attachment's repr is short: it never dumps megabytes of image data."""
    assert "\\x00" not in repr(fake_attachment(0, 1000))
