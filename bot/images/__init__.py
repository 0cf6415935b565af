"""The image pipeline between kie.ai's result URLs and Discord's upload limits.

No discord import: :func:`download_all` fetches and verifies images from allowed hosts
(abandoning stalled ones), :func:`plan_messages` packs them into as few messages as fit
``attachment_size_limit`` (re-encoding when that saves messages), :func:`build_part`
re-creates one planned message from its stored indexes, and :class:`DeliverySlots` bounds
the deliveries a process runs at once.
"""

from bot.images.download import DownloadedImage, download_all, download_image
from bot.images.errors import (
    CannotFit,
    DownloadFailed,
    DownloadStalled,
    HostNotAllowed,
    ImageDownloadError,
    ImageError,
    NotAnImage,
    TooLarge,
)
from bot.images.fit import (
    Attachment,
    ImageSlot,
    Part,
    build_part,
    build_part_blocking,
    plan_messages,
    plan_messages_blocking,
)
from bot.images.limits import DeliverySlots, release_heap, run_in_image_thread
from bot.images.urls import is_allowed_host, redact_url

__all__ = [
    "Attachment",
    "CannotFit",
    "DeliverySlots",
    "DownloadFailed",
    "DownloadStalled",
    "DownloadedImage",
    "HostNotAllowed",
    "ImageDownloadError",
    "ImageError",
    "ImageSlot",
    "NotAnImage",
    "Part",
    "TooLarge",
    "build_part",
    "build_part_blocking",
    "download_all",
    "download_image",
    "is_allowed_host",
    "plan_messages",
    "plan_messages_blocking",
    "redact_url",
    "release_heap",
    "run_in_image_thread",
]
