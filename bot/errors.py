"""Errors whose message is meant for the member who asked (no discord import)."""

from __future__ import annotations

__all__ = ["UserFacingError"]


class UserFacingError(Exception):
    """A refusal or failure to show the member as an ephemeral message, never a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
