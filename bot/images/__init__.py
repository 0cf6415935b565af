"""The image pipeline between kie.ai's result URLs and Discord's upload limits.

No discord import: :func:`download_all` fetches and verifies images from allowed hosts, and
:func:`plan_messages` packs them into messages that fit ``attachment_size_limit``.
"""

from bot.images.download import DownloadedImage, download_all, download_image
from bot.images.errors import (
    CannotFit,
    DownloadFailed,
    HostNotAllowed,
    ImageDownloadError,
    ImageError,
    NotAnImage,
    TooLarge,
)
from bot.images.fit import Attachment, plan_messages, plan_messages_blocking
from bot.images.urls import is_allowed_host, redact_url

__all__ = [
    "Attachment",
    "CannotFit",
    "DownloadFailed",
    "DownloadedImage",
    "HostNotAllowed",
    "ImageDownloadError",
    "ImageError",
    "NotAnImage",
    "TooLarge",
    "download_all",
    "download_image",
    "is_allowed_host",
    "plan_messages",
    "plan_messages_blocking",
    "redact_url",
]
