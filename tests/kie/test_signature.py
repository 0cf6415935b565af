"""Tests for webhook signing and verification."""

from __future__ import annotations

import json

import pytest

from bot.kie import sign, verify
from imagine_standins.kie import webhook_signature

KEY = "test-hmac-key"
TASK = "558a0e58d58a6cb69e5c6a55170398da"
TS = 1786413282
VECTOR = "UAffijbrVQ5+bROLImgg8ETiSYiVZDSsJAANPkZFLas="
BODY = {"code": 200, "msg": "ok", "data": {"taskId": TASK, "state": "success"}}


def headers(signature: str = VECTOR, ts: int | str = TS) -> dict[str, str]:
    """Build the two webhook headers."""
    return {"X-Webhook-Timestamp": str(ts), "X-Webhook-Signature": signature}


def test_vector() -> None:
    """sign() reproduces the test vector, as does the stand-in's own signer."""
    assert sign(KEY, TASK, TS) == VECTOR
    assert sign(KEY, TASK, str(TS)) == VECTOR
    assert webhook_signature(KEY, TASK, str(TS)) == VECTOR


def test_verify_accepts_valid() -> None:
    """A fresh, correctly signed callback verifies, from a dict, str or bytes body."""
    assert verify(KEY, BODY, headers(), now=TS + 10)
    assert verify(KEY, json.dumps(BODY), headers(), now=TS)
    assert verify(KEY, json.dumps(BODY).encode(), headers(), now=TS - 10)


def test_verify_headers_case_insensitive() -> None:
    """Header names are matched case-insensitively."""
    lower = {"x-webhook-timestamp": str(TS), "x-webhook-signature": VECTOR}
    assert verify(KEY, BODY, lower, now=TS)


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"task_id": TASK}},
        {"taskId": TASK, "data": {}},
        {"taskId": TASK},
    ],
)
def test_task_id_fallbacks(body: dict[str, object]) -> None:
    """The task id is taken from data.taskId, data.task_id, then top-level taskId."""
    assert verify(KEY, body, headers(), now=TS)


def test_data_task_id_wins_over_top_level() -> None:
    """data.taskId is preferred over a different top-level taskId."""
    body = {"taskId": "other", "data": {"taskId": TASK}}
    assert verify(KEY, body, headers(), now=TS)


@pytest.mark.parametrize(
    ("key", "body", "hdrs", "now"),
    [
        ("wrong-key", BODY, headers(), TS),
        (KEY, {"data": {"taskId": "another"}}, headers(), TS),
        (KEY, BODY, headers(signature=VECTOR[:-2] + "A="), TS),
        (KEY, BODY, headers(), TS + 301),
        (KEY, BODY, headers(), TS - 301),
        (KEY, BODY, {"X-Webhook-Signature": VECTOR}, TS),
        (KEY, BODY, {"X-Webhook-Timestamp": str(TS)}, TS),
        (KEY, BODY, headers(ts="17864l3282"), TS),
        (KEY, {"data": {}}, headers(), TS),
        (KEY, "not json", headers(), TS),
        (KEY, "[1, 2]", headers(), TS),
        (KEY, "[" * 100_000 + "]" * 100_000, headers(), TS),
    ],
)
def test_verify_refuses(key: str, body: object, hdrs: dict[str, str], now: float) -> None:
    """Wrong key, other task, tampered signature, stale/future time or missing parts fail."""
    assert not verify(key, body, hdrs, now=now)  # type: ignore[arg-type]


def test_tolerance_is_configurable() -> None:
    """A tighter tolerance refuses what the default accepts."""
    assert verify(KEY, BODY, headers(), now=TS + 200)
    assert not verify(KEY, BODY, headers(), now=TS + 200, tolerance=60)
