"""Build a :class:`~bot.kie.models.TaskRecord` from recordInfo's (or a callback's) ``data``.

Only the task id and the state must be right; everything else is read leniently: a wrong
time or charge (bot/kie/numbers.py) or an odd failCode never fails an otherwise good record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bot.kie.errors import KieUnexpectedResponse
from bot.kie.exact_json import decode_json, snippet
from bot.kie.models import TaskRecord, TaskState
from bot.kie.numbers import MAX_COST_SECONDS, absent, epoch_ms, optional_whole, task_credits

__all__ = ["parse_result_urls", "parse_task_record"]

log = logging.getLogger(__name__)


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
        cost_time=optional_whole(data, "costTime", least=0, most=MAX_COST_SECONDS, task_id=task_id),
        create_time=epoch_ms(data, "createTime", task_id),
        complete_time=epoch_ms(data, "completeTime", task_id),
        update_time=epoch_ms(data, "updateTime", task_id),
        credits_consumed=task_credits(data, task_id),
    )


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
                None, f"resultJson is not valid JSON: {snippet(value)}"
            ) from None
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise KieUnexpectedResponse(None, f"resultJson is not an object: {snippet(repr(value))}")
    urls = value.get("resultUrls")
    if urls is None:
        return ()
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise KieUnexpectedResponse(None, "resultJson.resultUrls is not a list of strings")
    return tuple(urls)


def _optional_text(data: Mapping[str, Any], key: str, task_id: str) -> str | None:
    """Read a text field, treating "" and null alike as absent; a number becomes its text.

    Anything else (a bool, an object) is logged and read as absent: failCode and failMsg only
    explain a failure, so they never fail a record themselves.
    """
    value = data.get(key)
    if absent(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    log.warning("kie task %s: ignoring %s that is not text: %s", task_id, key, snippet(repr(value)))
    return None


def _opaque_param(param: Any) -> str:
    """Keep ``param`` as a JSON string, re-encoding one that arrived already decoded."""
    if param is None:
        return ""
    if isinstance(param, str):
        return param
    # Decimals from decode_json have no JSON encoder; param is opaque, so a float will do.
    return json.dumps(param, ensure_ascii=False, default=float)
