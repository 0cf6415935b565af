"""Refusals from the admin-control layer; each message is written for the person who asked."""

from __future__ import annotations

from bot.errors import UserFacingError

__all__ = ["InvalidSetting", "PromptBlocked", "QuotaExceeded"]


class InvalidSetting(UserFacingError):
    """An admin asked for a setting that can't be stored; the message says why."""


class PromptBlocked(UserFacingError):
    """A prompt matched the server's blocklist; the message never names the entry."""

    MESSAGE = "Your prompt contains a blocked word or phrase."

    def __init__(self, entry: str) -> None:
        super().__init__(self.MESSAGE)
        # Kept for logs and admins only: members must not learn the (possibly regex) entry.
        self.entry = entry


class QuotaExceeded(UserFacingError):
    """A request needs more images than one applicable limit has left."""

    def __init__(
        self,
        *,
        scope: str,
        limit: int,
        period: str,
        used: int,
        requested: int,
        resets_at: int,
    ) -> None:
        super().__init__(_quota_message(scope, limit, period, used, requested, resets_at))
        self.scope = scope
        self.limit = limit
        self.period = period
        self.used = used
        self.requested = requested
        self.resets_at = resets_at

    @property
    def remaining(self) -> int:
        """Return the images still free in the limit that refused."""
        return max(self.limit - self.used, 0)


_OWNER = {"member": "Your", "channel": "This channel's", "server": "This server's"}
_WHERE = {"member": "for you here", "channel": "in this channel", "server": "in this server"}


def _quota_message(
    scope: str, limit: int, period: str, used: int, requested: int, resets_at: int
) -> str:
    owner = _OWNER.get(scope, "A")
    if limit == 0:
        return f"Image generation isn't allowed {_WHERE.get(scope, 'here')} (limit: 0 images)."
    left = max(limit - used, 0)
    resets = f"it resets <t:{resets_at}:R>."
    if left == 0:
        return f"{owner} limit of {_images(limit)} per {period} is used up; {resets}"
    return (
        f"You asked for {_images(requested)}, but {owner.lower()} limit of {limit} per "
        f"{period} has only {left} left; {resets}"
    )


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"
