"""Errors whose message is meant for the member who asked (no discord import)."""

from __future__ import annotations

from bot.i18n import Text

__all__ = ["UserFacingError"]


class UserFacingError(Exception):
    """A refusal or failure to show the member as an ephemeral message, never a traceback.

    It carries a `Text` (bot/i18n): the sentence in no language yet, rendered in the member's
    language by whoever answers them (bot/tree.py's `reply_to_error`). `message` is its
    English, for logs. Code below the Discord side can't know who will read a refusal, so
    it raises the sentence, not a translation.
    """

    def __init__(self, text: Text) -> None:
        self.text = text
        self.message = str(text)
        super().__init__(self.message)
