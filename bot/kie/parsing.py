"""Pure parsers for kie.ai answers: ``(http_status, body) -> result``, or raise a KieError.

Nothing here does I/O, so every odd payload kie has been seen to send can be tested directly.

JSON is read by :func:`decode_json`: numbers with a fraction or exponent become exact
``Decimal`` (never float), and nesting deeper than :data:`MAX_JSON_DEPTH` is refused before
``json.loads`` could recurse (docs/kie-api.md §4). Numbers kie gets wrong never fail a good
record: a nonsensical time becomes None and a nonsensical charge becomes 0, with a warning.

Precedence (docs/kie-api.md §2): kie normally answers HTTP 200 with the real outcome in the
body ``code``. A body code that is an error wins. When the body has no usable code (not JSON, a
Cloudflare page, a bare proxy error) a non-2xx HTTP status is mapped through the same
:func:`error_for_code`. Every error records its :class:`~bot.kie.errors.Origin`, which the retry
rule reads.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from bot.kie.errors import (
    KieError,
    KieNotFound,
    KieTaskNotFound,
    KieUnexpectedResponse,
    KieValidationError,
    Origin,
    error_for_code,
)
from bot.kie.models import TaskRecord, TaskState

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_TASK_CREDITS",
    "Body",
    "Envelope",
    "JsonTooDeep",
    "KieCallback",
    "decode_json",
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

log = logging.getLogger(__name__)

Body = str | bytes | Mapping[str, Any] | None

# kie's deepest body is {"data": {…}} with JSON *strings* inside; 32 leaves ample room.
MAX_JSON_DEPTH = 32
# No single Seedream task costs anything near this (about 5 credits an image); a larger
# creditsConsumed is nonsense and is read as 0 (docs/kie-api.md §4).
MAX_TASK_CREDITS = Decimal(1_000_000)
# Epoch milliseconds up to 9999-12-31T23:59:59.999Z, what a datetime can hold.
_MAX_EPOCH_MS = 253_402_300_799_999
# costTime in seconds; anything beyond a 32-bit count (68 years) is nonsense.
_MAX_COST_SECONDS = 2**31 - 1

_SNIPPET_CHARS = 200
_CLOUDFLARE_CODE = re.compile(r"error code:\s*(\d{4})", re.IGNORECASE)
_TASK_NOT_FOUND_MSG = "recordinfo is null"
# The only characters that matter when counting depth outside strings.
_DEPTH_SIGNIFICANT = re.compile(r'["\\\[\]{}]')


class JsonTooDeep(ValueError):
    """The JSON text nests arrays and objects deeper than allowed."""


def _depth_ok(text: str, max_depth: int) -> bool:
    """Return False when brackets outside strings nest deeper than ``max_depth``.

    One linear pass that never recurses, run before json.loads (which recurses once per level
    and can end in RecursionError). Malformed text is left for json.loads to refuse.
    """
    depth = 0
    in_string = False
    escaped_at = -1  # the index of the character a backslash escapes
    for match in _DEPTH_SIGNIFICANT.finditer(text):
        at = match.start()
        if at == escaped_at:
            continue
        char = text[at]
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif char in "]}":
            depth -= 1
    return True


def decode_json(body: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON with exact decimals, refusing nesting deeper than ``max_depth``.

    Numbers with a fraction or an exponent become ``Decimal`` (``0.8`` stays exactly 0.8);
    integers stay ``int``; ``NaN`` and ``Infinity`` become ``Decimal`` too, for the readers to
    refuse. Bytes must be UTF-8. Raises :class:`JsonTooDeep` or another ``ValueError``.
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if not _depth_ok(text, max_depth):
        raise JsonTooDeep(f"JSON nests deeper than {max_depth} levels")
    return json.loads(text, parse_float=Decimal, parse_constant=Decimal)


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


def _is_no_such_task(exc: KieError) -> bool:
    """Return True for recordInfo's two ways of saying "no such task" (docs/kie-api.md §4).

    Live answers are 422 "recordInfo is null"; the docs show 404 "Task not found". A 404 counts
    only in kie's own envelope: a bare 404 page (a wrong base URL, a proxy) says nothing about
    the task, and declaring a task lost on it could charge someone twice.
    """
    if exc.origin is not Origin.BODY:
        return False
    if exc.code == 404:
        return True
    return exc.code == 422 and exc.message.strip().lower() == _TASK_NOT_FOUND_MSG


def parse_record_info_response(
    status: int, body: Body, *, retry_after: float | None = None
) -> TaskRecord:
    """Return the task record from a recordInfo answer."""
    try:
        env = parse_envelope(status, body, retry_after=retry_after)
    except (KieValidationError, KieNotFound) as exc:
        if not isinstance(exc, KieTaskNotFound) and _is_no_such_task(exc):
            raise KieTaskNotFound(exc.code, exc.message, origin=exc.origin) from None
        raise
    if not isinstance(env.data, Mapping):
        raise KieUnexpectedResponse(status, "recordInfo answer has no data object")
    return parse_task_record(env.data)


def parse_credits_response(status: int, body: Body, *, retry_after: float | None = None) -> Decimal:
    """Return the credit balance from a chat/credit answer, exactly (it may be fractional).

    A balance is a fact kie reports, so any finite number is returned as it is (even a
    negative one); anything else (text, NaN, Infinity) is KieUnexpectedResponse.
    """
    env = parse_envelope(status, body, retry_after=retry_after)
    balance = _exact_number(env.data)
    if balance is None:
        raise KieUnexpectedResponse(
            status, f"credit answer data is not a number: {_snippet(repr(env.data))}"
        )
    return balance


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
            value = decode_json(value)
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


def _exact_number(value: Any) -> Decimal | None:
    """Return a JSON number (or numeric string) as an exact finite Decimal, else None.

    None for bool, NaN, ±Infinity, text that is not a number, and every other type. A float
    (from a body decoded elsewhere) is read through its shortest repr, so 0.8 stays 0.8.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _optional_whole(
    data: Mapping[str, Any], key: str, *, least: int, most: int, task_id: str
) -> int | None:
    """Read a count of seconds or milliseconds; None when absent or nonsense.

    Fractions are rounded. Nonsense (text, NaN, 1e400, out of [least, most]) is logged and
    read as None: a wrong clock field never fails an otherwise good record.
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    number = _exact_number(value)
    # Compared as Decimal before any int(): int(Decimal("1e999999999")) would never finish.
    if number is None or not least <= number <= most:
        log.warning("kie task %s: ignoring nonsensical %s %s", task_id, key, _snippet(repr(value)))
        return None
    return int(number.to_integral_value(rounding=ROUND_HALF_EVEN))


def _optional_text(data: Mapping[str, Any], key: str, task_id: str) -> str | None:
    """Read a text field, treating "" and null alike as absent; a number becomes its text.

    Anything else (a bool, an object) is logged and read as absent: failCode and failMsg only
    explain a failure, so they never fail a record themselves.
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    log.warning(
        "kie task %s: ignoring %s that is not text: %s", task_id, key, _snippet(repr(value))
    )
    return None


def _epoch_ms(data: Mapping[str, Any], key: str, task_id: str) -> int | None:
    """Read an epoch-milliseconds time; None when absent, zero, negative or past year 9999."""
    return _optional_whole(data, key, least=1, most=_MAX_EPOCH_MS, task_id=task_id)


def _credits(data: Mapping[str, Any], task_id: str) -> Decimal:
    """Read creditsConsumed (or the older consumeCredits) exactly; 0 when neither is present.

    The first of the two keys that is present and not null decides. A value that is not a
    number, or is NaN, Infinity, negative or above MAX_TASK_CREDITS, is logged as a warning
    and read as 0: kie's record is still good, but its charge is unknown and must be checked
    by hand (docs/kie-api.md §4).
    """
    for key in ("creditsConsumed", "consumeCredits"):
        value = data.get(key)
        if value is None or value == "":
            continue
        number = _exact_number(value)
        if number is None or not 0 <= number <= MAX_TASK_CREDITS:
            log.warning(
                "kie task %s: %s %s is not a sane charge; read as 0, check kie's billing",
                task_id,
                key,
                _snippet(repr(value)),
            )
            return Decimal(0)
        # Decimal("-0") and Decimal("0.0") are read as a plain 0.
        return number if number else Decimal(0)
    return Decimal(0)


def _opaque_param(param: Any) -> str:
    """Keep ``param`` as a JSON string, re-encoding one that arrived already decoded."""
    if param is None:
        return ""
    if isinstance(param, str):
        return param
    # Decimals from decode_json have no JSON encoder; param is opaque, so a float will do.
    return json.dumps(param, ensure_ascii=False, default=float)


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
    model = data.get("model")
    return TaskRecord(
        task_id=task_id,
        model=model if isinstance(model, str) else "",
        state=state,
        # Kept opaque as a string, whichever shape kie chose this month.
        param=_opaque_param(data.get("param")),
        result_urls=parse_result_urls(data.get("resultJson")),
        fail_code=_optional_text(data, "failCode", task_id),
        fail_msg=_optional_text(data, "failMsg", task_id),
        cost_time=_optional_whole(
            data, "costTime", least=0, most=_MAX_COST_SECONDS, task_id=task_id
        ),
        create_time=_epoch_ms(data, "createTime", task_id),
        complete_time=_epoch_ms(data, "completeTime", task_id),
        update_time=_epoch_ms(data, "updateTime", task_id),
        credits_consumed=_credits(data, task_id),
    )
