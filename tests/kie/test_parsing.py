"""Tests for the pure parsers, on the example payloads of docs/kie-api.md §11."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.kie import (
    KieError,
    KieFeatureDisabled,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieMaintenance,
    KieNotFound,
    KieRateLimited,
    KieServerError,
    KieSubKeyLimit,
    KieTaskNotFound,
    KieUnauthorized,
    KieUnexpectedResponse,
    KieUpstreamTimeout,
    KieValidationError,
    TaskState,
    error_for_code,
    parse_callback,
    parse_create_task_response,
    parse_credits_response,
    parse_download_url_response,
    parse_envelope,
    parse_record_info_response,
    parse_result_urls,
    parse_task_record,
)
from bot.kie.errors import Origin

PAYLOADS = Path(__file__).parent / "payloads"


def _payload(name: str) -> str:
    """Read an example payload from tests/kie/payloads."""
    return (PAYLOADS / name).read_text()


# docs/kie-api.md §11, S1 success example (note the "message" key).
S1_SUCCESS = _payload("s1_record_success.json")

# docs/kie-api.md §11, S1 failure example.
S1_FAIL = _payload("s1_record_fail.json")

# docs/kie-api.md §11, S3 seedream example: state "waiting" with a populated resultJson.
S3_WAITING = _payload("s3_record_seedream_waiting.json")

# docs/kie-api.md §4 and §11, S13: kie's answer for an unknown task.
S13_UNKNOWN = '{"code":422,"msg":"recordInfo is null","data":null}'

# docs/kie-api.md §11, S2: the seedream v4 success callback.
S2_CALLBACK = _payload("s2_callback_success.json")

# docs/kie-api.md §11, S8: the generic Market failure callback (param shortened).
S8_FAIL_CALLBACK = _payload("s8_callback_fail.json")


def test_s1_success_with_message_key() -> None:
    """The S1 success example parses, reading the "message" spelling of msg."""
    env = parse_envelope(200, S1_SUCCESS)
    assert env.msg == "success"
    rec = parse_record_info_response(200, S1_SUCCESS)
    assert rec.task_id == "task_12345678"
    assert rec.state is TaskState.SUCCESS
    assert rec.result_urls == ("https://example.com/generated-content.jpg",)
    assert rec.fail_code is None
    assert rec.fail_msg is None
    assert rec.create_time == 1698765400000
    assert rec.complete_time == 1698765432000
    assert rec.update_time == 1698765432000
    assert rec.cost_time is None
    assert rec.credits_consumed == 0
    assert json.loads(rec.param)["input"]["aspect_ratio"] == "3:2"


def test_s1_fail() -> None:
    """The S1 failure example is a code-200 envelope with a failed task inside."""
    rec = parse_record_info_response(200, S1_FAIL)
    assert rec.state is TaskState.FAIL
    assert rec.is_terminal
    assert rec.fail_code == "422"
    assert rec.fail_msg == "Invalid prompt: prompt contains prohibited content"
    assert rec.result_urls == ()


def test_s3_odd_waiting_example() -> None:
    """The seedream "waiting" example with a resultJson parses as it stands."""
    rec = parse_record_info_response(200, S3_WAITING)
    assert rec.state is TaskState.WAITING
    assert not rec.is_terminal
    assert rec.model == "bytedance/seedream-v4-text-to-image"
    assert len(rec.result_urls) == 1
    assert rec.fail_code is None
    assert rec.cost_time is None
    assert rec.complete_time is None
    assert rec.update_time is None
    assert rec.create_time == 1757584164490


@pytest.mark.parametrize("http_status", [200, 422])
def test_unknown_task(http_status: int) -> None:
    """recordInfo's 422 "recordInfo is null" becomes KieTaskNotFound, a validation error."""
    with pytest.raises(KieTaskNotFound) as info:
        parse_record_info_response(http_status, S13_UNKNOWN)
    assert isinstance(info.value, KieValidationError)
    assert info.value.code == 422


def test_other_422_on_record_info_is_not_task_not_found() -> None:
    """A different 422 on recordInfo stays a plain validation error."""
    body = '{"code":422,"msg":"taskId is malformed","data":null}'
    with pytest.raises(KieValidationError) as info:
        parse_record_info_response(200, body)
    assert not isinstance(info.value, KieTaskNotFound)


def test_s2_success_callback() -> None:
    """The seedream success callback parses, with creditsConsumed and double-encoded param."""
    cb = parse_callback(S2_CALLBACK)
    assert cb.code == 200
    assert cb.msg == "Playground task completed successfully."
    rec = cb.record
    assert rec.task_id == "558a0e58d58a6cb69e5c6a55170398da"
    assert rec.state is TaskState.SUCCESS
    assert rec.result_urls == (
        "https://tempfile.aiquickdraw.com/p/558a0e58d58a6cb69e5c6a55170398da_1_1786413281_4092.jpg",
    )
    assert rec.credits_consumed == 5
    assert rec.cost_time == 21
    assert rec.create_time == 1786413258000
    assert json.loads(json.loads(rec.param)["input"])["seed"] == -88165251


def test_s8_fail_callback_with_consume_credits() -> None:
    """The older failure callback's consumeCredits is read as credits_consumed."""
    cb = parse_callback(S8_FAIL_CALLBACK)
    assert cb.code == 501
    assert cb.msg == "Playground task failed."
    assert cb.record.state is TaskState.FAIL
    assert cb.record.fail_code == "500"
    assert cb.record.fail_msg == "Internal server error"
    assert cb.record.credits_consumed == 0
    assert cb.record.cost_time == 0


def test_consume_credits_fallback_and_precedence() -> None:
    """creditsConsumed wins over consumeCredits; either alone is read."""
    base = {"taskId": "t", "state": "success", "param": "{}"}
    assert parse_task_record({**base, "consumeCredits": 100}).credits_consumed == 100
    both = {**base, "consumeCredits": 100, "creditsConsumed": 10}
    assert parse_task_record(both).credits_consumed == 10
    assert parse_task_record({**base, "creditsConsumed": 3.5}).credits_consumed == 3.5


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        (None, ()),
        ("", ()),
        ("   ", ()),
        ("null", ()),
        (
            '{"resultUrls":["https://a/1.jpg","https://a/2.jpg"]}',
            ("https://a/1.jpg", "https://a/2.jpg"),
        ),
        ({"resultUrls": ["https://a/1.jpg"]}, ("https://a/1.jpg",)),
        ('{"resultObject":{"text":"hi"}}', ()),
    ],
)
def test_result_json_tolerance(value: Any, urls: tuple[str, ...]) -> None:
    """resultJson may be a JSON string, empty, null, or already decoded."""
    assert parse_result_urls(value) == urls


@pytest.mark.parametrize("value", ['{"resultUrls":[', "not json", '["a"]', '{"resultUrls":"x"}'])
def test_result_json_malformed(value: str) -> None:
    """A resultJson that cannot be read raises a clear error."""
    with pytest.raises(KieUnexpectedResponse, match="resultJson"):
        parse_result_urls(value)


def test_record_param_object_is_kept_as_string() -> None:
    """A param that arrives already decoded is kept as an opaque JSON string."""
    rec = parse_task_record({"taskId": "t", "state": "queuing", "param": {"model": "m"}})
    assert rec.param == '{"model": "m"}'
    assert rec.state is TaskState.QUEUING


@pytest.mark.parametrize(
    "data",
    [
        {"state": "success"},
        {"taskId": "t", "state": "done"},
        {"taskId": "t", "state": "success", "createTime": "soon"},
    ],
)
def test_record_shape_errors(data: dict[str, Any]) -> None:
    """Records without a task id, with an unknown state or a bad time raise clearly."""
    with pytest.raises(KieUnexpectedResponse):
        parse_task_record(data)


ERROR_CLASSES = [
    (400, KieValidationError),
    (401, KieUnauthorized),
    (402, KieInsufficientCredits),
    (404, KieNotFound),
    (408, KieUpstreamTimeout),
    (422, KieValidationError),
    (429, KieRateLimited),
    (433, KieSubKeyLimit),
    (455, KieMaintenance),
    (500, KieServerError),
    (501, KieGenerationFailed),
    (503, KieServerError),
    (505, KieFeatureDisabled),
]


@pytest.mark.parametrize(("code", "cls"), ERROR_CLASSES)
def test_error_for_code(code: int, cls: type[KieError]) -> None:
    """Each kie code maps to its own class, carrying code and message."""
    exc = error_for_code(code, "boom")
    assert type(exc) is cls
    assert exc.code == code
    assert exc.message == "boom"


def test_error_for_unknown_code_is_plain() -> None:
    """A code kie never documented gives a plain KieError."""
    exc = error_for_code(418, "teapot")
    assert type(exc) is KieError
    assert exc.code == 418


@pytest.mark.parametrize(("code", "cls"), ERROR_CLASSES)
def test_body_code_on_http_200(code: int, cls: type[KieError]) -> None:
    """An error code in the body of an HTTP 200 answer raises its class."""
    body = json.dumps({"code": code, "msg": "nope", "data": None})
    with pytest.raises(cls) as info:
        parse_envelope(200, body)
    assert info.value.code == code
    assert info.value.message == "nope"


@pytest.mark.parametrize(("code", "cls"), ERROR_CLASSES)
def test_http_status_without_usable_body(code: int, cls: type[KieError]) -> None:
    """A non-2xx HTTP status whose body has no code maps through the same function."""
    for body in ("", "<html>Bad Gateway</html>", '{"detail":"x"}', None):
        with pytest.raises(cls) as info:
            parse_envelope(code, body)
        assert info.value.code == code


def test_body_code_wins_over_http_status() -> None:
    """When both carry an error, the body code decides the class."""
    body = '{"code":402,"msg":"Credits insufficient","data":null}'
    with pytest.raises(KieInsufficientCredits):
        parse_envelope(500, body)


def test_http_error_with_success_body_fails() -> None:
    """A body claiming success under a non-2xx status is not trusted."""
    body = '{"code":200,"msg":"success","data":{"taskId":"x"}}'
    with pytest.raises(KieServerError):
        parse_create_task_response(502, body)


def test_retry_after_is_attached_to_rate_limit() -> None:
    """A Retry-After value passed in reaches KieRateLimited."""
    with pytest.raises(KieRateLimited) as info:
        parse_envelope(429, '{"code":429,"msg":"slow down"}', retry_after=3.0)
    assert info.value.retry_after == 3.0


def test_cloudflare_1010_is_clear() -> None:
    """Cloudflare's "error code: 1010" page becomes a KieError naming Cloudflare."""
    with pytest.raises(KieError) as info:
        parse_envelope(403, "error code: 1010")
    assert info.value.code == 403
    assert "Cloudflare" in info.value.message
    assert "User-Agent" in info.value.message


def test_non_json_success_is_unexpected() -> None:
    """A 2xx answer that is not a kie envelope is KieUnexpectedResponse."""
    with pytest.raises(KieUnexpectedResponse):
        parse_envelope(200, "<html>hello</html>")


def test_create_task_response() -> None:
    """The official createTask answer yields its taskId; a missing one is an error."""
    ok = '{"code":200,"msg":"success","data":{"taskId":"task_bytedance_1765176547151"}}'
    assert parse_create_task_response(200, ok) == "task_bytedance_1765176547151"
    with pytest.raises(KieUnexpectedResponse):
        parse_create_task_response(200, '{"code":200,"msg":"success","data":null}')


def test_create_task_500_example() -> None:
    """The documented createTask 500 example maps to KieServerError."""
    body = (
        '{"code":500,"msg":"Server Error - An unexpected error occurred while processing '
        'the request","data":null}'
    )
    with pytest.raises(KieServerError, match="unexpected error"):
        parse_create_task_response(200, body)


def test_unknown_model_example() -> None:
    """The observed unknown-model answer is a validation error."""
    body = '{"code":422,"msg":"The page does not exist or is not published","data":null}'
    with pytest.raises(KieValidationError, match="not published"):
        parse_create_task_response(200, body)


def test_credits_and_download_url() -> None:
    """The credit and download-url examples parse to an int and a URL."""
    assert parse_credits_response(200, '{"code":200,"msg":"success","data":100}') == 100
    url = parse_download_url_response(
        200, '{"code":200,"msg":"success","data":"https://tempfile.aiquickdraw.com/x.jpg"}'
    )
    assert url == "https://tempfile.aiquickdraw.com/x.jpg"
    with pytest.raises(KieUnexpectedResponse):
        parse_credits_response(200, '{"code":200,"msg":"success","data":"lots"}')
    with pytest.raises(KieUnexpectedResponse):
        parse_download_url_response(200, '{"code":200,"msg":"success","data":null}')


def test_bytes_and_mapping_bodies() -> None:
    """Bodies may be given as bytes or as already-decoded JSON."""
    body = {"code": 200, "msg": "success", "data": 7}
    assert parse_credits_response(200, body) == 7
    assert parse_credits_response(200, json.dumps(body).encode()) == 7


@pytest.mark.parametrize(
    ("status", "body", "origin"),
    [
        (200, '{"code":500,"msg":"boom"}', Origin.BODY),
        (502, '{"code":429,"msg":"slow"}', Origin.BODY),
        (502, "<html>Bad Gateway</html>", Origin.STATUS),
        (403, "error code: 1010", Origin.STATUS),
        (200, "<html>hello</html>", Origin.STATUS),
        (502, '{"code":200,"msg":"success","data":{"taskId":"x"}}', Origin.CONFLICT),
    ],
)
def test_errors_record_where_their_code_came_from(status: int, body: str, origin: Origin) -> None:
    """Each error says whether its code came from kie's body, a bare status, or both at odds."""
    with pytest.raises(KieError) as info:
        parse_create_task_response(status, body)
    assert info.value.origin is origin
