"""Tests for the pure parsers (the documented example bodies are in test_payloads.py)."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest

from bot.kie import (
    KieError,
    KieFeatureDisabled,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieMaintenance,
    KieNotFound,
    KieNotNow,
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
from bot.kie.parsing import MAX_JSON_DEPTH, JsonTooDeep, decode_json

# docs/kie-api.md §4: kie's answers for an unknown task, live and documented.
UNKNOWN_TASK_LIVE = '{"code":422,"msg":"recordInfo is null","data":null}'
UNKNOWN_TASK_DOC = '{"code":404,"msg":"Task not found"}'

# A good, live-shaped success record (docs/kie-api.md §4), as a dict to vary one field at a time.
GOOD: dict[str, Any] = {
    "taskId": "t1",
    "model": "bytedance/seedream-v4-text-to-image",
    "state": "success",
    "param": "{}",
    "resultJson": '{"resultUrls":["https://tempfile.aiquickdraw.com/p/t1_1.jpg"]}',
    "costTime": 14,
    "createTime": 1786413258000,
    "completeTime": 1786413282000,
    "creditsConsumed": 5.5,
    "operationType": "generate",
    "successFlag": 1,
    "response": {"resultUrls": ["https://tempfile.aiquickdraw.com/p/t1_1.jpg"]},
    "paramJson": "{}",
}


def _record_body(data: dict[str, Any] | str) -> str:
    """Wrap a record (a dict, or raw JSON text for the data object) in a recordInfo answer."""
    inner = data if isinstance(data, str) else json.dumps(data)
    return '{"code":200,"msg":"success","data":' + inner + "}"


@pytest.mark.parametrize("http_status", [200, 422])
def test_unknown_task(http_status: int) -> None:
    """recordInfo's 422 "recordInfo is null" becomes KieTaskNotFound, a validation error."""
    with pytest.raises(KieTaskNotFound) as info:
        parse_record_info_response(http_status, UNKNOWN_TASK_LIVE)
    assert isinstance(info.value, KieValidationError)
    assert info.value.code == 422


@pytest.mark.parametrize("http_status", [200, 404])
@pytest.mark.parametrize("msg", ["Task not found", "task not found.", ""])
def test_unknown_task_documented_404(http_status: int, msg: str) -> None:
    """kie's own 404 envelope on recordInfo is KieTaskNotFound too (and still a KieNotFound)."""
    body = json.dumps({"code": 404, "msg": msg})
    with pytest.raises(KieTaskNotFound) as info:
        parse_record_info_response(http_status, body)
    assert isinstance(info.value, KieNotFound)
    assert info.value.code == 404


@pytest.mark.parametrize("body", ["", "<html>404 Not Found</html>", '{"detail":"no route"}'])
def test_bare_404_page_is_not_task_not_found(body: str) -> None:
    """A 404 with no kie envelope (wrong URL, a proxy) proves nothing about the task."""
    with pytest.raises(KieNotFound) as info:
        parse_record_info_response(404, body)
    assert not isinstance(info.value, KieTaskNotFound)
    assert info.value.origin is Origin.STATUS


def test_404_elsewhere_stays_not_found() -> None:
    """Only recordInfo reads a 404 as "no such task"."""
    with pytest.raises(KieNotFound) as info:
        parse_download_url_response(200, UNKNOWN_TASK_DOC)
    assert not isinstance(info.value, KieTaskNotFound)


def test_other_422_on_record_info_is_not_task_not_found() -> None:
    """A different 422 on recordInfo stays a plain validation error."""
    body = '{"code":422,"msg":"taskId is malformed","data":null}'
    with pytest.raises(KieValidationError) as info:
        parse_record_info_response(200, body)
    assert not isinstance(info.value, KieTaskNotFound)


def test_consume_credits_fallback_and_precedence() -> None:
    """creditsConsumed wins over consumeCredits; either alone is read."""
    base = {"taskId": "t", "state": "success", "param": "{}"}
    assert parse_task_record({**base, "consumeCredits": 100}).credits_consumed == 100
    both = {**base, "consumeCredits": 100, "creditsConsumed": 10}
    assert parse_task_record(both).credits_consumed == 10
    assert parse_task_record({**base, "creditsConsumed": 3.5}).credits_consumed == Decimal("3.5")
    assert parse_task_record(base).credits_consumed == 0


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("0.8", "0.8"),
        ("5.5", "5.5"),
        ("4.0", "4.0"),
        ("5", "5"),
        ("0", "0"),
        ("0.1", "0.1"),
        ("0.30000000000000004", "0.30000000000000004"),
        ("12.345678901234567890123", "12.345678901234567890123"),
        ("2.5e1", "25"),
        ('"5.5"', "5.5"),
        ("-0.0", "0"),
    ],
)
def test_credits_consumed_is_exact_from_the_wire(text: str, exact: str) -> None:
    """creditsConsumed is read from the JSON text into a Decimal, never through a float."""
    body = _record_body(json.dumps(GOOD)[:-1] + ', "creditsConsumed": ' + text + "}")
    rec = parse_record_info_response(200, body)
    assert type(rec.credits_consumed) is Decimal
    assert rec.credits_consumed == Decimal(exact)
    assert rec.credits_consumed.is_finite() and rec.credits_consumed >= 0


def test_sum_of_fractional_charges_is_exact() -> None:
    """Ten 0.1-credit tasks add up to exactly 1 credit (a float sum would not)."""
    body = _record_body(json.dumps(GOOD)[:-1] + ', "creditsConsumed": 0.1}')
    total = sum(
        (parse_record_info_response(200, body).credits_consumed for _ in range(10)), Decimal(0)
    )
    assert total == Decimal(1)


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "-5",
        "-0.8",
        "1e400",
        "1000001",
        '"lots"',
        '"NaN"',
        "true",
        "[5]",
        '{"n": 5}',
    ],
)
def test_nonsense_charge_is_zero_with_a_warning(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A creditsConsumed that is no sane charge is read as 0 and logged; the record stays good."""
    caplog.set_level(logging.WARNING, logger="bot.kie")
    body = _record_body(json.dumps(GOOD)[:-1] + ', "creditsConsumed": ' + text + "}")
    rec = parse_record_info_response(200, body)
    assert rec.state is TaskState.SUCCESS
    assert rec.result_urls == ("https://tempfile.aiquickdraw.com/p/t1_1.jpg",)
    assert rec.credits_consumed == 0
    assert type(rec.credits_consumed) is Decimal
    assert "creditsConsumed" in caplog.text
    assert "t1" in caplog.text


@pytest.mark.parametrize("key", ["costTime", "createTime", "completeTime", "updateTime"])
@pytest.mark.parametrize(
    "text",
    [
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "-Infinity",
        "-1",
        '"soon"',
        '"NaN"',
        "true",
        "[1]",
        '{"s": 1}',
        "1e30",
        "99999999999999999999999",
    ],
)
def test_nonsense_times_become_none(key: str, text: str) -> None:
    """A costTime or epoch time that makes no sense is None; the good record still parses."""
    body = _record_body(json.dumps(GOOD)[:-1] + f', "{key}": {text}}}')
    rec = parse_record_info_response(200, body)
    assert rec.state is TaskState.SUCCESS
    assert rec.credits_consumed == Decimal("5.5")
    field = {
        "costTime": "cost_time",
        "createTime": "create_time",
        "completeTime": "complete_time",
        "updateTime": "update_time",
    }[key]
    assert getattr(rec, field) is None


def test_huge_exponent_is_refused_without_computing_it() -> None:
    """1e999999999 is compared, never turned into an int (that would take forever)."""
    body = _record_body(json.dumps(GOOD)[:-1] + ', "costTime": 1e999999999}')
    assert parse_record_info_response(200, body).cost_time is None


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("costTime", "21", 21),
        ("costTime", "0", 0),
        ("costTime", "21.6", 22),
        ("costTime", '"37"', 37),
        ("costTime", "null", None),
        ("costTime", '""', None),
        ("createTime", "1786413258000", 1786413258000),
        ("createTime", "1786413258000.4", 1786413258000),
        ("createTime", "0", None),
        ("createTime", "253402300799999", 253402300799999),
        ("createTime", "253402300800000", None),
    ],
)
def test_sane_times(key: str, text: str, value: int | None) -> None:
    """Sane times are read as whole numbers; fractions are rounded; bounds are inclusive."""
    rec = parse_task_record(decode_json(json.dumps({**GOOD})[:-1] + f', "{key}": {text}}}'))
    field = "cost_time" if key == "costTime" else "create_time"
    assert getattr(rec, field) == value
    assert getattr(rec, field) is None or type(getattr(rec, field)) is int


def test_floats_in_a_decoded_body_keep_their_short_form() -> None:
    """A body someone already decoded with floats still gives 0.8, not 0.8000000000000000444."""
    rec = parse_task_record({**GOOD, "creditsConsumed": 0.8})
    assert rec.credits_consumed == Decimal("0.8")


def test_odd_fail_fields_never_fail_the_record() -> None:
    """A failCode or failMsg that is not text is dropped, not raised."""
    rec = parse_task_record(
        decode_json(json.dumps({**GOOD, "failCode": {"x": 1}, "failMsg": True}))
    )
    assert (rec.fail_code, rec.fail_msg) == (None, None)
    rec = parse_task_record(decode_json(json.dumps(GOOD)[:-1] + ', "failCode": 500.0}'))
    assert rec.fail_code == "500.0"


def test_decoded_param_with_decimals_is_kept_as_a_string() -> None:
    """A param that arrives as an object is re-encoded, decimals and all."""
    rec = parse_task_record(decode_json('{"taskId":"t","state":"waiting","param":{"x":1.5}}'))
    assert json.loads(rec.param) == {"x": 1.5}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_too_deep_json_is_refused_before_recursing(depth: int) -> None:
    """Nesting past MAX_JSON_DEPTH is refused by a scan, never by a RecursionError."""
    text = "[" * depth + "]" * depth
    with pytest.raises(JsonTooDeep):
        decode_json(text)
    with pytest.raises(KieUnexpectedResponse):
        parse_envelope(200, '{"code":200,"msg":"ok","data":' + text + "}")
    with pytest.raises(KieUnexpectedResponse):
        parse_callback('{"code":200,"data":' + "{" * depth + "}" * depth + "}")
    with pytest.raises(KieUnexpectedResponse, match="resultJson"):
        parse_result_urls(text)


def test_depth_limit_counts_only_real_brackets() -> None:
    """Brackets inside strings, escaped quotes included, do not count; the limit is inclusive."""
    assert decode_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    nested_text = json.dumps({"s": "[" * 100 + '\\"' + "{" * 100, "t": ["\\"]})
    assert decode_json(nested_text)["s"].startswith("[[[")
    escaped_quote = '["\\"' + "[" * 40 + '"]'
    assert decode_json(escaped_quote) == ['"' + "[" * 40]


def test_decode_json_reads_exact_decimals() -> None:
    """Fractions and exponents become Decimal; integers stay int; NaN stays visible."""
    value = decode_json(b'{"a": 0.8, "b": 5, "c": 1e400, "d": NaN}')
    assert value["a"] == Decimal("0.8") and type(value["a"]) is Decimal
    assert value["b"] == 5 and type(value["b"]) is int
    assert value["c"] == Decimal("1e400")
    assert value["d"].is_nan()


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
        {"taskId": "", "state": "success"},
    ],
)
def test_record_shape_errors(data: dict[str, Any]) -> None:
    """Records without a task id or with an unknown state raise clearly."""
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


@pytest.mark.parametrize(("code", "cls"), [(429, KieRateLimited), (455, KieMaintenance)])
@pytest.mark.parametrize("body", ['{"code":CODE,"msg":"not now"}', "Service Unavailable"])
def test_retry_after_is_attached_to_not_now(code: int, cls: type[KieNotNow], body: str) -> None:
    """A Retry-After value passed in reaches KieRateLimited and KieMaintenance, both KieNotNow."""
    with pytest.raises(cls) as info:
        parse_envelope(code, body.replace("CODE", str(code)), retry_after=3.0)
    assert isinstance(info.value, KieNotNow)
    assert info.value.retry_after == 3.0
    with pytest.raises(cls) as info:
        parse_envelope(200, '{"code":CODE}'.replace("CODE", str(code)))
    assert info.value.retry_after is None


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
    """The credit and download-url examples parse to an exact Decimal and a URL."""
    balance = parse_credits_response(200, '{"code":200,"msg":"success","data":100}')
    assert balance == 100 and type(balance) is Decimal
    url = parse_download_url_response(
        200, '{"code":200,"msg":"success","data":"https://tempfile.aiquickdraw.com/x.jpg"}'
    )
    assert url == "https://tempfile.aiquickdraw.com/x.jpg"
    with pytest.raises(KieUnexpectedResponse):
        parse_credits_response(200, '{"code":200,"msg":"success","data":"lots"}')
    with pytest.raises(KieUnexpectedResponse):
        parse_download_url_response(200, '{"code":200,"msg":"success","data":null}')


@pytest.mark.parametrize(
    ("data", "exact"),
    [("2510430.5", "2510430.5"), ("0.8", "0.8"), ("-3.25", "-3.25"), ('"12.5"', "12.5")],
)
def test_balance_is_exact(data: str, exact: str) -> None:
    """A fractional (even negative) balance is returned exactly, never truncated."""
    balance = parse_credits_response(200, '{"code":200,"msg":"success","data":' + data + "}")
    assert type(balance) is Decimal
    assert str(balance) == exact


@pytest.mark.parametrize("data", ["NaN", "Infinity", "-Infinity", "true", "null", '"lots"', "{}"])
def test_balance_that_is_no_number_is_unexpected(data: str) -> None:
    """A balance that is no finite number is an error, never a made-up figure."""
    with pytest.raises(KieUnexpectedResponse):
        parse_credits_response(200, '{"code":200,"msg":"success","data":' + data + "}")


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
