"""Planning messages under Discord's upload limit: fewest messages, originals kept where they
fit, re-encodings marked, parts re-created exactly from their indexes."""

from __future__ import annotations

import pytest

from bot.images.download import DownloadedImage
from bot.images.encode import profile_image
from bot.images.errors import CannotFit, DownloadFailed
from bot.images.fit import (
    DEFAULT_HEADROOM,
    MAX_FILES_PER_MESSAGE,
    SHARE_EDGE,
    Attachment,
    ImageSlot,
    Part,
    build_part,
    build_part_blocking,
    pack_in_order,
    plan_messages,
    plan_messages_blocking,
    safe_stem,
)
from bot.images.probe import probe_image
from tests.images.pictures import MIB, as_download, encode, gradient_image, noise_jpeg

TEN_MIB = 10 * MIB
BUDGET = TEN_MIB - DEFAULT_HEADROOM


def flatten(plan: list[Part]) -> list[Attachment]:
    """Return the attachments of every message, in delivery order."""
    return [attachment for part in plan for attachment in part]


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


def files(part: Part) -> list[tuple[str, bytes]]:
    """Return what Discord would receive for a part: names and bytes."""
    return [(a.filename, a.data) for a in part]


# ----- six 4K results under 10 MiB ---------------------------------------------------------


def test_six_4k_results_go_in_one_message(
    plan_10_mib: list[Part], four_k_images: list[DownloadedImage]
) -> None:
    """32 MiB of 4K originals become one message of six under 10 MiB, all marked re-encoded."""
    assert sum(image.size for image in four_k_images) > 3 * TEN_MIB
    [part] = plan_10_mib
    assert part.indexes == (0, 1, 2, 3, 4, 5)
    assert part.size <= BUDGET
    assert part.reencoded == (0, 1, 2, 3, 4, 5)
    assert [a.filename for a in part] == [f"imagine_{n}.jpg" for n in range(1, 7)]


def test_shared_4k_images_stay_large_and_valid(plan_10_mib: list[Part]) -> None:
    """Every re-encoding is a real JPEG of the recorded size, at the floor (half size) or
    above: the shared ladder goes from full size straight to half size."""
    for attachment in flatten(plan_10_mib):
        info = probe_image(attachment.data)
        assert (info.format, info.width, info.height) == (
            "JPEG",
            attachment.width,
            attachment.height,
        )
        assert attachment.content_type == "image/jpeg"
        assert attachment.width == attachment.height
        assert attachment.width in (SHARE_EDGE, 4096)
        assert attachment.original_bytes > attachment.size


async def test_a_4k_part_is_rebuilt_byte_for_byte(
    plan_10_mib: list[Part], four_k_images: list[DownloadedImage]
) -> None:
    """The stored indexes of a part re-create the same files, as a resumed delivery needs."""
    [part] = plan_10_mib
    again = await build_part(four_k_images, part.indexes, limit_bytes=TEN_MIB, stem="imagine")
    assert again == part


async def test_a_25_mib_limit_shares_one_message_at_full_size(
    four_k_images: list[DownloadedImage],
) -> None:
    """With a boosted server's 25 MiB, one message still holds all six, now at full size."""
    [part] = await plan_messages(four_k_images, limit_bytes=25 * MIB, stem="imagine")
    assert part.size <= 25 * MIB - DEFAULT_HEADROOM
    assert [(a.width, a.height) for a in part] == [(4096, 4096)] * 6


async def test_a_limit_the_originals_fit_keeps_them(four_k_images: list[DownloadedImage]) -> None:
    """Under a 50 MiB limit the originals fit one message and go untouched, at no CPU cost."""
    [part] = await plan_messages(four_k_images, limit_bytes=50 * MIB, stem="imagine")
    assert part.reencoded == ()
    for attachment in part:
        assert attachment.data is four_k_images[attachment.original_index].data


# ----- the rules, on smaller pictures ------------------------------------------------------


def test_parts_are_rebuilt_exactly_and_plans_are_deterministic(
    mid_images: list[DownloadedImage],
) -> None:
    """Two plans are identical, and each part is re-created from its indexes alone."""
    limit = 1 * MIB
    first = plan_messages_blocking(mid_images, limit_bytes=limit, stem="d", headroom=0)
    second = plan_messages_blocking(mid_images, limit_bytes=limit, stem="d", headroom=0)
    assert first == second
    assert any(part.reencoded for part in first)
    for part in first:
        rebuilt = build_part_blocking(
            mid_images, part.indexes, limit_bytes=limit, stem="d", headroom=0
        )
        assert files(rebuilt) == files(part)


async def test_async_and_blocking_plans_agree(mid_images: list[DownloadedImage]) -> None:
    """The async planner (image threads, images in parallel) plans the very same bytes."""
    limit = 1 * MIB
    blocking = plan_messages_blocking(mid_images, limit_bytes=limit, stem="d", headroom=0)
    threaded = await plan_messages(mid_images, limit_bytes=limit, stem="d", headroom=0)
    assert threaded == blocking


def test_six_mid_images_share_the_fewest_messages(mid_images: list[DownloadedImage]) -> None:
    """Six originals well over the limit: one message, each image its share of it."""
    floors = []
    for image in mid_images:
        profile = profile_image(image.data)
        floors.append(profile.estimate(profile.floor(SHARE_EDGE)))
    limit = int(sum(floors) * 1.15)
    assert sum(image.size for image in mid_images) > 1.5 * limit
    plan = plan_messages_blocking(mid_images, limit_bytes=limit, stem="m", headroom=0)
    assert [part.indexes for part in plan] == [(0, 1, 2, 3, 4, 5)]
    assert plan[0].size <= limit
    assert plan[0].reencoded == (0, 1, 2, 3, 4, 5)
    for attachment in plan[0]:
        # 1280 px is under the share floor: these shrink in quality only, never in size.
        assert (attachment.width, attachment.height) == (1280, 1280)


def test_originals_that_fit_stay_byte_identical(small_jpegs: list[bytes]) -> None:
    """When the originals need no more messages than the file count forces, none changes."""
    images = [as_download(data) for data in small_jpegs[:6]]
    [part] = plan_messages_blocking(images, limit_bytes=TEN_MIB, stem="imagine")
    assert part.reencoded == ()
    for attachment, image in zip(part, images, strict=True):
        assert attachment.data is image.data
        assert attachment.original_bytes == image.size


def test_in_a_shared_part_small_originals_are_kept(mid_images: list[DownloadedImage]) -> None:
    """A part that must shrink keeps the originals smaller than their re-encoding would be."""
    small = as_download(encode(gradient_image(1280, 1280), "JPEG", quality=60))
    images = [mid_images[0], small, mid_images[1]]
    limit = mid_images[0].size + small.size
    [part] = plan_messages_blocking(images, limit_bytes=limit, stem="k", headroom=0)
    assert part.reencoded == (0, 2)
    assert part.attachments[1].data is small.data
    assert part.size <= limit


def test_images_are_not_shrunk_below_the_floor_to_share(
    mid_images: list[DownloadedImage],
) -> None:
    """If sharing one message would need smaller pictures than the floor, use more messages."""
    # With the floor at the pictures' own size, only the quality may drop to share.
    at_floor = profile_image(mid_images[0].data)
    lowest = at_floor.estimate(at_floor.floor(1280))
    limit = int(lowest * 3.5)
    plan = plan_messages_blocking(
        mid_images[:6], limit_bytes=limit, stem="f", headroom=0, share_edge=1280
    )
    assert [len(part) for part in plan] == [3, 3]
    for attachment in flatten(plan):
        assert (attachment.width, attachment.height) == (1280, 1280)
    # Without the floor rule (share_edge tiny), everything would squeeze into one message.
    squeezed = plan_messages_blocking(
        mid_images[:6], limit_bytes=limit, stem="f", headroom=0, share_edge=64
    )
    assert len(squeezed) == 1


def test_failed_downloads_are_skipped_and_indexes_keep_their_place(
    small_jpegs: list[bytes],
) -> None:
    """Download errors stand in the list; files keep the number of their position."""
    failed = DownloadFailed("x: HTTP 500", url="x")
    images: list[ImageSlot] = [as_download(small_jpegs[0]), failed, as_download(small_jpegs[2])]
    [part] = plan_messages_blocking(images, limit_bytes=TEN_MIB, stem="p")
    assert part.indexes == (0, 2)
    assert [a.filename for a in part] == ["p_1.jpg", "p_3.jpg"]
    assert plan_messages_blocking([None, failed], limit_bytes=TEN_MIB, stem="p") == []


@pytest.mark.parametrize(
    ("indexes", "match"),
    [([], "at least one"), ([0, 0], "repeated"), ([1], "not available"), ([7], "not available")],
)
def test_build_part_refuses_indexes_that_name_no_image(
    small_jpegs: list[bytes], indexes: list[int], match: str
) -> None:
    """A stored part that names a missing image is refused, not silently shortened."""
    images: list[ImageSlot] = [as_download(small_jpegs[0]), None, as_download(small_jpegs[2])]
    with pytest.raises(ValueError, match=match):
        build_part_blocking(images, indexes, limit_bytes=TEN_MIB, stem="p")


def test_build_part_refuses_more_files_than_a_message_holds(small_jpegs: list[bytes]) -> None:
    """A part is at most ten files."""
    images = [as_download(data) for data in small_jpegs]
    with pytest.raises(ValueError, match="per message"):
        build_part_blocking(images, list(range(11)), limit_bytes=TEN_MIB, stem="p")


def test_a_part_reads_as_its_list_of_files(small_jpegs: list[bytes]) -> None:
    """Iterating or measuring a part gives its attachments, as the old list of files did."""
    images = [as_download(data) for data in small_jpegs[:3]]
    [part] = plan_messages_blocking(images, limit_bytes=TEN_MIB, stem="l")
    assert len(part) == 3
    assert list(part) == list(part.attachments)
    assert tuple(part) == part.attachments
    assert "bytes" in repr(part)


def test_a_single_image_that_fits_is_one_untouched_message() -> None:
    """A single image under the limit is sent as is, in one message."""
    data = noise_jpeg(1024, 1024, seed=7)
    [[attachment]] = plan_messages_blocking([as_download(data)], limit_bytes=TEN_MIB, stem="i")
    assert attachment.data is data
    assert not attachment.reencoded
    assert attachment.filename == "i_1.jpg"
    assert (attachment.width, attachment.height) == (1024, 1024)
    assert attachment.content_type == "image/jpeg"


def test_a_single_image_too_big_alone_shrinks_as_far_as_it_must() -> None:
    """Alone in its message, an image may go below the share floor to fit at all."""
    data = noise_jpeg(512, 512, seed=3)
    limit = len(data) // 8
    [[attachment]] = plan_messages_blocking(
        [as_download(data)], limit_bytes=limit, stem="s", headroom=0
    )
    assert attachment.reencoded
    assert attachment.size <= limit
    assert attachment.width < 512


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
    assert [len(part) for part in plan] == [10, 2]
    assert [a.original_index for a in flatten(plan)] == list(range(12))
    assert MAX_FILES_PER_MESSAGE == 10


def test_reencoded_file_takes_the_extension_of_its_bytes() -> None:
    """A PNG that must shrink is named for what it became (.jpg when opaque), never .png."""
    png = encode(gradient_image(1024, 1024), "PNG", compress_level=0)
    [[attachment]] = plan_messages_blocking(
        [as_download(png)], limit_bytes=len(png) // 2, stem="g", headroom=0
    )
    assert attachment.reencoded
    assert attachment.filename == "g_1.jpg"
    assert attachment.content_type == "image/jpeg"
    # A smooth picture fits at the top rung: full size, no downscale.
    assert (attachment.width, attachment.height) == (1024, 1024)


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
