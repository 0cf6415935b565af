"""Reading what the bot sent off the Discord stand-in's request records.

Shared by the crash matrix (tests/e2e/test_crash_matrix.py) and the fault soak
(bench/fault_soak.py), which judge the same records.
"""

from __future__ import annotations

from typing import Any

from imagine_standins.discord import RecordedRequest

# Every route by which a message (and its files) reaches a channel or an interaction.
UPLOAD_ROUTES = {
    "POST /webhooks/{application_id}/{token}",
    "PATCH /webhooks/{application_id}/{token}/messages/{message_id}",
    "POST /channels/{channel_id}/messages",
    "PATCH /channels/{channel_id}/messages/{message_id}",
    "POST /interactions/{interaction_id}/{token}/callback",
}
CALLBACK_ROUTE = "/interactions/{interaction_id}/{token}/callback"
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8")


def accepted(rec: RecordedRequest) -> bool:
    """Return True if Discord accepts the request (its answer is 2xx)."""
    return rec.outcome is not None and 200 <= rec.outcome < 300


def result_upload(rec: RecordedRequest) -> bool:
    """Return True for an upload of images (a result part) that Discord accepts."""
    return (
        rec.key in UPLOAD_ROUTES
        and accepted(rec)
        and any(part.data.startswith(IMAGE_MAGIC) for part in rec.files)
    )


def has_cancel_button(components: Any) -> bool:
    """Return True if the components hold an enabled Cancel button."""
    stack = list(components or [])
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if item.get("type") == 2 and not item.get("disabled"):
            label = str(item.get("label") or "") + str(item.get("custom_id") or "")
            if "cancel" in label.lower():
                return True
        stack.extend(item.get("components") or [])
        if isinstance(item.get("accessory"), dict):
            stack.append(item["accessory"])
    return False


def message_body(rec: RecordedRequest) -> dict[str, Any] | None:
    """Return the message a request writes (a callback's ``data``), or None."""
    if rec.key not in UPLOAD_ROUTES or not isinstance(rec.json, dict):
        return None
    if rec.route == CALLBACK_ROUTE:
        data = rec.json.get("data")
        return data if rec.json.get("type") in (4, 7) and isinstance(data, dict) else None
    return rec.json
