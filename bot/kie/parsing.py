"""Pure parsers for kie.ai answers: ``(http_status, body) -> result``, or raise a KieError.

Nothing here does I/O, so every odd payload kie has been seen to send can be tested directly.

Precedence (docs/kie-api.md §2): kie normally answers HTTP 200 with the real outcome in the
body ``code``. A body code that is an error wins. When the body has no usable code (not JSON, a
Cloudflare page, a bare proxy error) a non-2xx HTTP status is mapped through the same
:func:`error_for_code`. Every error records its :class:`~bot.kie.errors.Origin`, which the retry
rule reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.kie.errors import (
    KieError,
    KieTaskNotFound,
    KieUnexpectedResponse,
    KieValidationError,
    Origin,
    error_for_code,
)
from bot.kie.models import TaskRecord, TaskState

__all__ = [
    "Body",
    "Envelope",
    "KieCallback",
    "envelope_code",
    "parse_callback",
    "parse_create_task_response",
    "parse_credits_response",
    "parse_download_url_response",
    "parse_envelope",
    "parse_record_info_response",
    "parse_result_urls",
    "parse_task_record",
]

Body = str | bytes | Mapping[str, Any] | None

_SNIPPET_CHARS = 200
_CLOUDFLARE_CODE = re.compile(r"error code:\s*(\d{4})", re.IGNORECASE)
_TASK_NOT_FOUND_MSG = "recordinfo is null"


@dataclass(frozen=True)
class Envelope:
    """kie's ``{code, msg, data}`` wrapper after a successful answer."""

    code: int
    msg: str
    data: Any


@dataclass(frozen=True)
class KieCallback:
    """A callback body: its top-level code/msg and the task record it carries."""

    code: int
    msg: str
    record: TaskRecord


def _snippet(text: str) -> str:
    """Shorten a body to one readable line for an error message."""
    flat = " ".join(text.split())
    if len(flat) > _SNIPPET_CHARS:
        return flat[:_SNIPPET_CHARS] + "…"
    return flat or "<empty body>"


def _decode(body: Body) -> tuple[Any, str]:
    """Return (decoded JSON or None, body text) without raising."""
    if body is None:
        return None, ""
    if isinstance(body, Mapping):
        return body, ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text), text
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


def envelope_code(body: Body) -> int | None:
    """Return the body's kie code, or None when the body is not a kie envelope."""
    obj, _ = _decode(body)
    return _body_code(obj)


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
            f"HTTP {status} answer is not a kie envelope: {_snippet(text)}",
            origin=Origin.STATUS,
        )
    return error_for_code(
        status, f"HTTP {status}: {_snippet(text)}", retry_after=retry_after, origin=Origin.STATUS
    )


def parse_envelope(status: int, body: Body, *, retry_after: float | None = None) -> Envelope:
    """Return the envelope of a successful answer, or raise the error it describes."""
    obj, text = _decode(body)
    code = _body_code(obj)
    if code is None or not isinstance(obj, Mapping):
        raise _unreadable(status, text, retry_after)
    msg = _body_msg(obj)
    if code != 200:
        raise error_for_code(code, msg or f"kie code {code}", retry_after=retry_after)
    if not 200 <= status < 300:
        # The body claims success but the transport says otherwise; trust the failure.
        raise error_for_code(
            status, msg or f"HTTP {status}", retry_after=retry_after, origin=Origin.CONFLICT
        )
    return Envelope(code=code, msg=msg, data=obj.get("data"))


def parse_create_task_response(status: int, body: Body, *, retry_after: float | None = None) -> str:
    """Return the new task's id from a createTask answer."""
    env = parse_envelope(status, body, retry_after=retry_after)
    data = env.data
    task_id = data.get("taskId") if isinstance(data, Mapping) else None
    if not isinstance(task_id, str) or not task_id:
        raise KieUnexpectedResponse(status, "createTask answer has no data.taskId")
    return task_id


def parse_record_info_response(
    status: int, body: Body, *, retry_after: float | None = None
) -> TaskRecord:
    """Return the task record from a recordInfo answer."""
    try:
        env = parse_envelope(status, body, retry_after=retry_after)
    except KieValidationError as exc:
        # kie answers an unknown taskId with 422 "recordInfo is null", not 404.
        if exc.code == 422 and exc.message.strip().lower() == _TASK_NOT_FOUND_MSG:
            raise KieTaskNotFound(exc.code, exc.message, origin=exc.origin) from None
        raise
    if not isinstance(env.data, Mapping):
        raise KieUnexpectedResponse(status, "recordInfo answer has no data object")
    return parse_task_record(env.data)


def parse_credits_response(status: int, body: Body, *, retry_after: float | None = None) -> int:
    """Return the credit balance from a chat/credit answer."""
    env = parse_envelope(status, body, retry_after=retry_after)
    data = env.data
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise KieUnexpectedResponse(status, f"credit answer data is not a number: {data!r}")
    return int(data)


def parse_download_url_response(
    status: int, body: Body, *, retry_after: float | None = None
) -> str:
    """Return the temporary URL from a download-url answer."""
    env = parse_envelope(status, body, retry_after=retry_after)
    if not isinstance(env.data, str) or not env.data:
        raise KieUnexpectedResponse(status, "download-url answer data is not a URL")
    return env.data


def parse_callback(body: Body) -> KieCallback:
    """Parse a callback POST body; its code is 200 on success and 501 on failure."""
    obj, text = _decode(body)
    code = _body_code(obj)
    if code is None or not isinstance(obj, Mapping):
        raise KieUnexpectedResponse(None, f"callback body is not a kie envelope: {_snippet(text)}")
    data = obj.get("data")
    if not isinstance(data, Mapping):
        raise KieUnexpectedResponse(code, "callback body has no data object")
    return KieCallback(code=code, msg=_body_msg(obj), record=parse_task_record(data))


def parse_result_urls(result_json: Any) -> tuple[str, ...]:
    """Return ``resultUrls`` from ``resultJson``, which kie sends as a JSON *string*."""
    if result_json is None:
        return ()
    value = result_json
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            value = json.loads(value)
        except ValueError:
            raise KieUnexpectedResponse(
                None, f"resultJson is not valid JSON: {_snippet(value)}"
            ) from None
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise KieUnexpectedResponse(None, f"resultJson is not an object: {_snippet(repr(value))}")
    urls = value.get("resultUrls")
    if urls is None:
        return ()
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise KieUnexpectedResponse(None, "resultJson.resultUrls is not a list of strings")
    return tuple(urls)


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    """Read an integer field that may be null, missing or (rarely) a numeric string."""
    value = data.get(key)
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    if isinstance(value, str):
        try:
            return round(float(value))
        except ValueError:
            pass
    raise KieUnexpectedResponse(None, f"{key} is not a number: {value!r}")


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    """Read a text field, treating "" and null alike as absent."""
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise KieUnexpectedResponse(None, f"{key} is not text: {value!r}")


def _credits(data: Mapping[str, Any]) -> float:
    """Read creditsConsumed, or the older consumeCredits; 0 when neither is present."""
    for key in ("creditsConsumed", "consumeCredits"):
        value = data.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            return int(value) if float(value).is_integer() else float(value)
        raise KieUnexpectedResponse(None, f"{key} is not a number: {value!r}")
    return 0


def parse_task_record(data: Mapping[str, Any]) -> TaskRecord:
    """Build a TaskRecord from recordInfo's (or a callback's) ``data`` object."""
    task_id = data.get("taskId", data.get("task_id"))
    if not isinstance(task_id, str) or not task_id:
        raise KieUnexpectedResponse(None, "task record has no taskId")
    raw_state = data.get("state")
    try:
        state = TaskState(str(raw_state).strip().lower())
    except ValueError:
        raise KieUnexpectedResponse(None, f"task record has unknown state {raw_state!r}") from None
    param = data.get("param")
    if param is None:
        param = ""
    elif not isinstance(param, str):
        # Kept opaque as a string, whichever shape kie chose this month.
        param = json.dumps(param, ensure_ascii=False)
    model = data.get("model")
    return TaskRecord(
        task_id=task_id,
        model=model if isinstance(model, str) else "",
        state=state,
        param=param,
        result_urls=parse_result_urls(data.get("resultJson")),
        fail_code=_optional_text(data, "failCode"),
        fail_msg=_optional_text(data, "failMsg"),
        cost_time=_optional_int(data, "costTime"),
        create_time=_optional_int(data, "createTime"),
        complete_time=_optional_int(data, "completeTime"),
        update_time=_optional_int(data, "updateTime"),
        credits_consumed=_credits(data),
    )
