"""Refusals from the admin-control layer; each message is written for the person who asked.

Messages are bot.i18n `Text`: the Discord side renders them in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.control.periods import PER_PERIOD
from bot.errors import UserFacingError
from bot.i18n import Text, _, ngettext

__all__ = ["InvalidSetting", "PromptBlocked", "QuotaExceeded"]


class InvalidSetting(UserFacingError):
    """An admin asked for a setting that can't be stored; the message says why."""


class PromptBlocked(UserFacingError):
    """A prompt matched the server's blocklist; the message never names the entry."""

    MESSAGE = _("Your prompt contains a blocked word or phrase.")

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


# Whole sentences per scope: the owner ("your", "this channel's") changes the grammar of the
# rest in Chinese, so they are not assembled from parts.
_NOT_ALLOWED = {
    "member": _("Image generation isn't allowed for you here (limit: 0 images)."),
    "channel": _("Image generation isn't allowed in this channel (limit: 0 images)."),
    "server": _("Image generation isn't allowed in this server (limit: 0 images)."),
}
_USED_UP: dict[str, Callable[[int], Text]] = {
    "member": lambda n: ngettext(
        "Your limit of {n} image {per_period} is used up; it resets {resets}.",
        "Your limit of {n} images {per_period} is used up; it resets {resets}.",
        n,
    ),
    "channel": lambda n: ngettext(
        "This channel's limit of {n} image {per_period} is used up; it resets {resets}.",
        "This channel's limit of {n} images {per_period} is used up; it resets {resets}.",
        n,
    ),
    "server": lambda n: ngettext(
        "This server's limit of {n} image {per_period} is used up; it resets {resets}.",
        "This server's limit of {n} images {per_period} is used up; it resets {resets}.",
        n,
    ),
}
_TOO_FEW_LEFT: dict[str, Callable[[int], Text]] = {
    "member": lambda n: ngettext(
        "You asked for {n} image, but your limit of {limit} {per_period} has only {left} "
        "left; it resets {resets}.",
        "You asked for {n} images, but your limit of {limit} {per_period} has only {left} "
        "left; it resets {resets}.",
        n,
    ),
    "channel": lambda n: ngettext(
        "You asked for {n} image, but this channel's limit of {limit} {per_period} has only "
        "{left} left; it resets {resets}.",
        "You asked for {n} images, but this channel's limit of {limit} {per_period} has only "
        "{left} left; it resets {resets}.",
        n,
    ),
    "server": lambda n: ngettext(
        "You asked for {n} image, but this server's limit of {limit} {per_period} has only "
        "{left} left; it resets {resets}.",
        "You asked for {n} images, but this server's limit of {limit} {per_period} has only "
        "{left} left; it resets {resets}.",
        n,
    ),
}


def _quota_message(
    scope: str, limit: int, period: str, used: int, requested: int, resets_at: int
) -> Text:
    scope = scope if scope in _NOT_ALLOWED else "server"
    if limit == 0:
        return _NOT_ALLOWED[scope]
    left = max(limit - used, 0)
    # Discord shows <t:…:R> ("in 3 hours") in the reader's own language.
    common = {"per_period": PER_PERIOD[period], "resets": f"<t:{resets_at}:R>"}
    if left == 0:
        return _USED_UP[scope](limit).with_params(**common)
    return _TOO_FEW_LEFT[scope](requested).with_params(limit=limit, left=left, **common)
