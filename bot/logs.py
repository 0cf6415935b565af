"""Logging set-up: one line per event, secrets scrubbed as a last line of defence.

Two kinds of secret are scrubbed from every record (message, traceback, stack):

- the values we know: the Discord and kie keys, the webhook HMAC key and the passwords in
  `DATABASE_URL` and `PUBLIC_BASE_URL` (`Settings.secret_values()`);
- secrets by shape, which we never hold as values:
  - interaction and webhook tokens in Discord URLs, `/interactions/<id>/<token>/callback` and
    `/webhooks/<id>/<token>/...`. At DEBUG discord.py's webhook adapter
    (`discord.webhook.async_`, which answers every interaction) logs each request URL, and
    `discord.http` logs URLs in its rate-limit warnings; aiohttp's timeout and response
    errors carry the URL into tracebacks too;
  - the `token` field of a gateway payload (`'token': '...'` or `"token": "..."`): discord.py's
    gateway logs every received event at DEBUG, INTERACTION_CREATE with its token;
  - a kie callback URL's job token (`/kie/callback/<token>`), which lets anyone post that
    job's result;
  - the userinfo of any URL (`scheme://user:password@host`).

aiosqlite logs every call it makes, parameters included (interaction and callback tokens are
written to the jobs table), so its logger stays at INFO, where it says nothing.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

__all__ = ["REDACTED", "RedactSecrets", "redact", "setup_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
REDACTED = "**********"

# (pattern, replacement, needles): each keeps what says where the secret was and hides the
# secret. A pattern can only match text holding one of its needles: most lines (a job queued,
# say) hold none, and a substring test is several times cheaper than a regex scan.
_SHAPES = (
    # discord.py quotes path parameters, so a token may carry %XX escapes.
    (
        re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/?#\s'\"<>]+"),
        rf"\g<1>{REDACTED}",
        ("/webhooks/", "/interactions/"),
    ),
    (re.compile(r"(/kie/callback/)[^/?#\s'\"<>]+"), rf"\g<1>{REDACTED}", ("/kie/callback/",)),
    (re.compile(r"""(["']token["']\s*:\s*["'])[^"']+"""), rf"\g<1>{REDACTED}", ("token",)),
    (
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s'\"<>]+@"),
        rf"\g<1>{REDACTED}@",
        ("://",),
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with every known secret and every secret-shaped part replaced."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    for pattern, replacement, needles in _SHAPES:
        if any(needle in text for needle in needles):
            text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Replace any secret that reaches a record (message, args, traceback or stack)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Very short values would redact ordinary words; real keys and tokens are long, and a
        # short password still goes when it shows inside a URL.
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken call must not print its raw arguments
            message = f"unformattable log message {record.msg!r} with arguments {record.args!r}"
        message = redact(message, self._secrets)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = message, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


def setup_logging(level: int, secrets: Iterable[str] = ()) -> None:
    """Send logs to stderr at `level`; discord.py's chatty HTTP logger stays at WARNING."""
    # The format names no source file, line, function, thread or process: not looking them up
    # for each record (the logging HOWTO's "Optimization") saves a stack walk and three
    # lookups on every line, one of them per /imagine.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(max(level, logging.WARNING))
    logging.getLogger("discord.gateway").setLevel(max(level, logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(max(level, logging.WARNING))
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))
