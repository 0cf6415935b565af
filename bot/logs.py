"""Logging set-up: one line per event, secrets scrubbed as a last line of defence."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

__all__ = ["RedactSecrets", "setup_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace any secret value that reaches a record (message, args or traceback)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Very short values would redact ordinary words; real keys and tokens are long.
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        text = record.exc_text or ""
        for secret in self._secrets:
            message = message.replace(secret, "**********")
            text = text.replace(secret, "**********")
        record.msg, record.args = message, None
        record.exc_text = text or None
        return True


def setup_logging(level: int, secrets: Iterable[str] = ()) -> None:
    """Send logs to stderr at `level`; discord.py's chatty HTTP logger stays at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(max(level, logging.WARNING))
    logging.getLogger("discord.gateway").setLevel(max(level, logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(max(level, logging.WARNING))
