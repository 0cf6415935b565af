"""Pure parsers for kie.ai answers: ``(http_status, body) -> result``, or raise a KieError.

Nothing here does I/O, so every odd payload kie has been seen to send can be tested directly.
One parser a kind of answer (createTask, recordInfo, credits, download-url, the callback),
each on top of three rooms:

- bot/kie/exact_json.py: JSON read with exact ``Decimal`` numbers (never float) and a bounded
  depth (docs/kie-api.md §4);
- bot/kie/envelope.py: the ``{code, msg, data}`` envelope, and which of the body code and the
  HTTP status decides (docs/kie-api.md §2);
- bot/kie/task_record.py: the task record, whose wrong numbers never fail a good record (a
  nonsensical time becomes None and a nonsensical charge 0, with a warning;
  bot/kie/numbers.py).

Their public names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.kie.envelope import Body, Envelope, envelope_code, parse_envelope, read_envelope
from bot.kie.errors import (
    KieError,
    KieNotFound,
    KieTaskNotFound,
    KieUnexpectedResponse,
    KieValidationError,
    Origin,
)
from bot.kie.exact_json import MAX_JSON_DEPTH, JsonTooDeep, decode_json, snippet
from bot.kie.models import TaskRecord
from bot.kie.numbers import MAX_TASK_CREDITS, exact_number
from bot.kie.task_record import parse_result_urls, parse_task_record

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

_TASK_NOT_FOUND_MSG = "recordinfo is null"


@dataclass(frozen=True)
class KieCallback:
    """A callback body: its top-level code/msg and the task record it carries."""

    code: int
    msg: str
    record: TaskRecord


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
    except (KieValidationError, KieNotFound) as exc:
        if not isinstance(exc, KieTaskNotFound) and _is_no_such_task(exc):
            raise KieTaskNotFound(exc.code, exc.message, origin=exc.origin) from None
        raise
    if not isinstance(env.data, Mapping):
        raise KieUnexpectedResponse(status, "recordInfo answer has no data object")
    return parse_task_record(env.data)


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


def parse_credits_response(status: int, body: Body, *, retry_after: float | None = None) -> Decimal:
    """Return the credit balance from a chat/credit answer, exactly (it may be fractional).

    A balance is a fact kie reports, so any finite number is returned as it is (even a
    negative one); anything else (text, NaN, Infinity) is KieUnexpectedResponse.
    """
    env = parse_envelope(status, body, retry_after=retry_after)
    balance = exact_number(env.data)
    if balance is None:
        raise KieUnexpectedResponse(
            status, f"credit answer data is not a number: {snippet(repr(env.data))}"
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
    envelope, text = read_envelope(body)
    if envelope is None:
        raise KieUnexpectedResponse(None, f"callback body is not a kie envelope: {snippet(text)}")
    if not isinstance(envelope.data, Mapping):
        raise KieUnexpectedResponse(envelope.code, "callback body has no data object")
    return KieCallback(
        code=envelope.code, msg=envelope.msg, record=parse_task_record(envelope.data)
    )
