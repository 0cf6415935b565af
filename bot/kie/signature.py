"""kie.ai webhook signatures: base64(HMAC-SHA256(key, f"{task_id}.{timestamp}")).

Only the task id and the timestamp are signed, not the body, so the timestamp window is what
stops a replayed callback (docs/kie-api.md §6).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from bot.kie.parsing import decode_json

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signed_task_id",
    "verify",
]

TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"


def sign(key: str, task_id: str, timestamp: int | str) -> str:
    """Return kie's signature for a task id and a Unix timestamp in seconds."""
    message = f"{task_id}.{timestamp}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_task_id(body: Mapping[str, Any]) -> str | None:
    """Return the task id kie signs: data.taskId, then data.task_id, then top-level taskId."""
    data = body.get("data")
    if isinstance(data, Mapping):
        for key in ("taskId", "task_id"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    value = body.get("taskId")
    if isinstance(value, str) and value:
        return value
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively in any mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def verify(
    key: str,
    body_json: Mapping[str, Any] | str | bytes,
    headers: Mapping[str, str],
    now: float,
    tolerance: float = 300,
) -> bool:
    """Return True when the callback's signature is valid and its timestamp is fresh."""
    if isinstance(body_json, str | bytes):
        try:
            body_json = decode_json(body_json)
        except ValueError:
            return False
    if not isinstance(body_json, Mapping):
        return False
    task_id = signed_task_id(body_json)
    raw_ts = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if task_id is None or raw_ts is None or given is None:
        return False
    raw_ts = raw_ts.strip()
    if not raw_ts.isdigit():
        return False
    # Both stale and future timestamps are refused: either could be a replay.
    if abs(now - int(raw_ts)) > tolerance:
        return False
    expected = sign(key, task_id, raw_ts)
    return hmac.compare_digest(expected.encode(), given.strip().encode())
