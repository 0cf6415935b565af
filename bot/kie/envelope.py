"""Read kie's ``{code, msg, data}`` envelope, or raise the error an answer describes.

Precedence (docs/kie-api.md §2): kie normally answers HTTP 200 with the real outcome in the
body ``code``. A body code that is an error wins. When the body has no usable code (not JSON, a
Cloudflare page, a bare proxy error) a non-2xx HTTP status is mapped through the same
:func:`~bot.kie.errors.error_for_code`. Every error records its
:class:`~bot.kie.errors.Origin`, which the retry rule reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.kie.errors import KieError, KieUnexpectedResponse, Origin, error_for_code
from bot.kie.exact_json import decode_json, snippet

__all__ = ["Body", "Envelope", "envelope_code", "parse_envelope", "read_envelope"]

Body = str | bytes | Mapping[str, Any] | None

_CLOUDFLARE_CODE = re.compile(r"error code:\s*(\d{4})", re.IGNORECASE)


@dataclass(frozen=True)
class Envelope:
    """kie's ``{code, msg, data}`` wrapper (from :func:`parse_envelope`: of a successful answer)."""

    code: int
    msg: str
    data: Any


def read_envelope(body: Body) -> tuple[Envelope | None, str]:
    """Return `body`'s envelope (None unless it has a usable code) and its text, never raising.

    The text is what to quote when the body is not an envelope ("" for a mapping or no body).
    """
    obj, text = _decode(body)
    code = _body_code(obj)
    if code is None or not isinstance(obj, Mapping):
        return None, text
    return Envelope(code=code, msg=_body_msg(obj), data=obj.get("data")), text


def envelope_code(body: Body) -> int | None:
    """Return the body's kie code, or None when the body is not a kie envelope."""
    envelope, _ = read_envelope(body)
    return envelope.code if envelope is not None else None


def parse_envelope(status: int, body: Body, *, retry_after: float | None = None) -> Envelope:
    """Return the envelope of a successful answer, or raise the error it describes."""
    envelope, text = read_envelope(body)
    if envelope is None:
        raise _unreadable(status, text, retry_after)
    code, msg = envelope.code, envelope.msg
    if code != 200:
        raise error_for_code(code, msg or f"kie code {code}", retry_after=retry_after)
    if not 200 <= status < 300:
        # The body claims success but the transport says otherwise; trust the failure.
        raise error_for_code(
            status, msg or f"HTTP {status}", retry_after=retry_after, origin=Origin.CONFLICT
        )
    return envelope


def _decode(body: Body) -> tuple[Any, str]:
    """Return (decoded JSON or None, body text) without raising."""
    if body is None:
        return None, ""
    if isinstance(body, Mapping):
        return body, ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return decode_json(text), text
    except ValueError:
        return None, text


def _body_code(obj: Any) -> int | None:
    """Return the envelope's integer code, or None when there is no usable one."""
    if not isinstance(obj, Mapping):
        return None
    code = obj.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


def _body_msg(obj: Mapping[str, Any]) -> str:
    """Read ``msg``, falling back to ``message`` (docs/kie-api.md §2)."""
    for key in ("msg", "message"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _unreadable(status: int, text: str, retry_after: float | None) -> KieError:
    """Build the error for an answer that carries no kie envelope."""
    cloudflare = _CLOUDFLARE_CODE.search(text)
    if cloudflare:
        hint = " (Cloudflare refuses non-browser User-Agents)" if cloudflare[1] == "1010" else ""
        return KieError(
            status,
            f"Cloudflare refused the request with HTTP {status}, error code {cloudflare[1]}{hint}",
            origin=Origin.STATUS,
        )
    if 200 <= status < 300:
        return KieUnexpectedResponse(
            status,
            f"HTTP {status} answer is not a kie envelope: {snippet(text)}",
            origin=Origin.STATUS,
        )
    return error_for_code(
        status, f"HTTP {status}: {snippet(text)}", retry_after=retry_after, origin=Origin.STATUS
    )
