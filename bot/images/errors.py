"""One error tree for everything that can go wrong between a result URL and a Discord upload.

Every message names the image by scheme, host and path only: kie's result URLs may be signed,
and a query string can carry a token that must never reach logs or users.
"""

from __future__ import annotations

__all__ = [
    "CannotFit",
    "DownloadFailed",
    "DownloadStalled",
    "HostNotAllowed",
    "ImageDownloadError",
    "ImageError",
    "NotAnImage",
    "TooLarge",
]


class ImageError(Exception):
    """Base of every error raised by ``bot.images``."""


class ImageDownloadError(ImageError):
    """An image could not be fetched; ``url`` is already redacted (no query, no userinfo)."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        """Render the message, which names the redacted URL."""
        return self.message

    def __repr__(self) -> str:
        """Show the class and the message."""
        return f"{type(self).__name__}({self.message!r})"


class HostNotAllowed(ImageDownloadError):
    """The URL (or a redirect) points outside the allowed hosts, or is not plain http(s)."""


class TooLarge(ImageDownloadError):
    """The body is, or announces itself as, larger than the byte cap."""


class NotAnImage(ImageDownloadError):
    """The bytes are not a complete JPEG, PNG or WebP image of a sane size."""


class DownloadFailed(ImageDownloadError):
    """HTTP error status, timeout, connection failure or too many redirects."""


class DownloadStalled(DownloadFailed):
    """The bytes stopped, or trickled below the minimum rate, for a whole stall window.

    A subclass of DownloadFailed, so whoever treats a failed download as "this image is not
    delivered" does the same here; `received` is what arrived in that window.
    """

    def __init__(
        self, message: str, *, url: str, received: int, window: float, min_rate: int
    ) -> None:
        super().__init__(message, url=url)
        self.received = received
        self.window = window
        self.min_rate = min_rate


class CannotFit(ImageError):
    """Even the smallest re-encoding of an image exceeds the per-message budget."""
