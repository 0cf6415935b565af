"""Every example body in tests/kie/payloads parses to its expected value or error.

The test is parametrised over the directory, so a new file is collected automatically and
fails until its expectation is added to EXPECTED (tests/kie/payloads/README.md says where
each body comes from; docs/kie-api.md §11 describes the set).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from bot.kie import (
    KieCallback,
    KieError,
    KieRateLimited,
    KieServerError,
    KieTaskNotFound,
    KieUnauthorized,
    KieValidationError,
    TaskRecord,
    TaskState,
    parse_callback,
    parse_create_task_response,
    parse_credits_response,
    parse_download_url_response,
    parse_envelope,
    parse_record_info_response,
)
from bot.kie.errors import Origin
from bot.kie.parsing import Envelope

PAYLOADS = Path(__file__).parent / "payloads"
FILES = sorted(PAYLOADS.glob("*.json"))

Parser = Callable[[int, bytes], Any]


def _callback(status: int, body: bytes) -> KieCallback:
    """Parse a callback body (callbacks have no HTTP status of their own)."""
    return parse_callback(body)


# What reads each kind of body. kie's upload API is not used by the bot; its answers go through
# the generic envelope parser, which is what an upload client would start from.
CREATE: Parser = parse_create_task_response
RECORD: Parser = parse_record_info_response
CALLBACK: Parser = _callback
CREDITS: Parser = parse_credits_response
DOWNLOAD: Parser = parse_download_url_response
UPLOAD: Parser = parse_envelope


@dataclass(frozen=True)
class Returns:
    """The body parses to ``value`` (compared with ==, and by type)."""

    parser: Parser
    value: object


@dataclass(frozen=True)
class Raises:
    """The body raises exactly ``error`` with this code and message, at HTTP 200 and ``code``."""

    parser: Parser
    error: type[KieError]
    code: int
    message: str


def _record(**fields: Any) -> TaskRecord:
    """A TaskRecord whose ``param`` is checked separately against the body (it is opaque)."""
    return TaskRecord(param=ANY, **fields)


GROK_TIMES = {
    "create_time": 1698765400000,
    "complete_time": 1698765432000,
    "update_time": 1698765432000,
}
GROK_SUCCESS = _record(
    task_id="task_12345678",
    model="grok-imagine/text-to-image",
    state=TaskState.SUCCESS,
    result_urls=("https://example.com/generated-content.jpg",),
    **GROK_TIMES,
)
R2_URL = (
    "https://xxxxxx.xxxxxxxx.r2.cloudflarestorage.com/v/xxxxxxx.png?X-Amz-Algorithm="
    "AWS4-HMAC-SHA256&X-Amz-Date=20250415T101007Z&X-Amz-SignedHeaders=host&X-Amz-Expires=1200"
    "&X-Amz-Credential=2464206aa3e576aa7c035d889be3a84e%2F20250415%2Fapac%2Fs3%2Faws4_request"
    "&X-Amz-Signature=122ae8bef09110e620841ab2ef8061c1818e754fc201408a9d1c6847b36fd3df"
)
SERVER_ERROR = "Server Error - An unexpected error occurred while processing the request"
FAILED_CALLBACK = "Playground task failed."
SUCCEEDED_CALLBACK = "Playground task completed successfully."

EXPECTED: dict[str, Returns | Raises] = {
    # createTask
    "doc_seedream_v4_t2i_create_ok.json": Returns(CREATE, "task_bytedance_1765176547151"),
    "doc_seedream_v4_edit_create_ok.json": Returns(CREATE, "task_bytedance_1765176680149"),
    "doc_seedream45_edit_create_ok.json": Returns(CREATE, "task_seedream_1765172101886"),
    "doc_seedream_v4_modelpage_create_ok.json": Returns(
        CREATE, "281e5b0*********************f39b9"
    ),
    "doc_seedream_v4_t2i_create_500.json": Raises(CREATE, KieServerError, 500, SERVER_ERROR),
    "doc_getting_started_401.json": Raises(
        CREATE, KieUnauthorized, 401, "You do not have access permissions"
    ),
    # recordInfo
    "doc_get_task_detail_success_message_key.json": Returns(RECORD, GROK_SUCCESS),
    # The OpenAPI's costTime 15000 is read as seconds, like every live value (§4).
    "doc_get_task_detail_success_openapi.json": Returns(
        RECORD,
        _record(
            task_id="task_12345678",
            model="grok-imagine/text-to-image",
            state=TaskState.SUCCESS,
            result_urls=("https://example.com/generated-content.jpg",),
            cost_time=15000,
            **GROK_TIMES,
        ),
    ),
    "doc_get_task_detail_fail_422.json": Returns(
        RECORD,
        _record(
            task_id="task_12345678",
            model="grok-imagine/text-to-image",
            state=TaskState.FAIL,
            fail_code="422",
            fail_msg="Invalid prompt: prompt contains prohibited content",
            **GROK_TIMES,
        ),
    ),
    # A documentation artefact: "waiting" with a resultJson. Parsed as it stands.
    "doc_seedream_v4_modelpage_recordinfo_waiting.json": Returns(
        RECORD,
        _record(
            task_id="281e5b0*********************f39b9",
            model="bytedance/seedream-v4-text-to-image",
            state=TaskState.WAITING,
            result_urls=(
                "https://file.aiquickdraw.com/custom-page/akr/section-images/"
                "17574827791652buuj6b7.png",
            ),
            create_time=1757584164490,
        ),
    ),
    "doc_recordinfo_400_taskid_required.json": Raises(
        RECORD, KieValidationError, 400, "taskId parameter is required"
    ),
    "doc_recordinfo_401_unauthorized.json": Raises(RECORD, KieUnauthorized, 401, "Unauthorized"),
    "doc_recordinfo_404_task_not_found.json": Raises(
        RECORD, KieTaskNotFound, 404, "Task not found"
    ),
    "doc_recordinfo_422_recordinfo_null.json": Raises(
        RECORD, KieTaskNotFound, 422, "recordInfo is null"
    ),
    "doc_recordinfo_429.json": Raises(RECORD, KieRateLimited, 429, "Rate limit exceeded"),
    "doc_recordinfo_500.json": Raises(RECORD, KieServerError, 500, SERVER_ERROR),
    # callbacks
    "doc_seedream_v4_callback_success_new.json": Returns(
        CALLBACK,
        KieCallback(
            200,
            SUCCEEDED_CALLBACK,
            _record(
                task_id="558a0e58d58a6cb69e5c6a55170398da",
                model="bytedance/seedream-v4-text-to-image",
                state=TaskState.SUCCESS,
                result_urls=(
                    "https://tempfile.aiquickdraw.com/p/"
                    "558a0e58d58a6cb69e5c6a55170398da_1_1786413281_4092.jpg",
                ),
                cost_time=21,
                create_time=1786413258000,
                complete_time=1786413282000,
                update_time=1786413282000,
                credits_consumed=Decimal(5),
            ),
        ),
    ),
    "doc_seedream_v4_modelpage_callback_success_old.json": Returns(
        CALLBACK,
        KieCallback(
            200,
            SUCCEEDED_CALLBACK,
            _record(
                task_id="e989621f54392584b05867f87b160672",
                model="bytedance/seedream-v4-text-to-image",
                state=TaskState.SUCCESS,
                result_urls=("https://example.com/generated-image.jpg",),
                cost_time=8,
                create_time=1755599634000,
                complete_time=1755599644000,
                update_time=1755599644000,
                credits_consumed=Decimal(100),  # the older consumeCredits
            ),
        ),
    ),
    "doc_seedream_v4_modelpage_callback_fail_old.json": Returns(
        CALLBACK,
        KieCallback(
            501,
            FAILED_CALLBACK,
            _record(
                task_id="bd3a37c523149e4adf45a3ddb5faf1a8",
                model="bytedance/seedream-v4-text-to-image",
                state=TaskState.FAIL,
                fail_code="500",
                fail_msg="Internal server error",
                cost_time=0,
                create_time=1755596341000,
                complete_time=1755597081000,
                update_time=1755597097000,
            ),
        ),
    ),
    "page_sora2_storyboard_callback_fail_shortened.json": Returns(
        CALLBACK,
        KieCallback(
            501,
            FAILED_CALLBACK,
            _record(
                task_id="bd3a37c523149e4adf45a3ddb5faf1a8",
                model="sora-2-pro-storyboard",
                state=TaskState.FAIL,
                fail_code="500",
                fail_msg="Internal server error",
                cost_time=0,
                create_time=1755596341000,
                complete_time=1755597081000,
                update_time=1755597097000,
            ),
        ),
    ),
    # Minimal: no param, no createTime, no credits field.
    "doc_nanobananapro_callback_fail_minimal.json": Returns(
        CALLBACK,
        KieCallback(
            501,
            FAILED_CALLBACK,
            _record(
                task_id="bd3a37c523149e4adf45a3ddb5faf1a8",
                model="nano-banana-pro",
                state=TaskState.FAIL,
                fail_code="500",
                fail_msg="Internal server error",
                complete_time=1755597081000,
            ),
        ),
    ),
    # chat/credit and download-url
    "doc_credits_ok.json": Returns(CREDITS, Decimal(100)),
    "doc_download_url_ok.json": Returns(
        DOWNLOAD, "https://tempfile.1f6cxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxbd98"
    ),
    "doc_4o_download_url_r2.json": Returns(DOWNLOAD, R2_URL),
    # file upload (not used by the bot; read through the generic envelope)
    "doc_file_stream_upload_ok.json": Returns(
        UPLOAD,
        Envelope(
            200,
            "File uploaded successfully",
            {
                "fileName": "uploaded-image.png",
                "filePath": "images/user-uploads/uploaded-image.png",
                "downloadUrl": (
                    "https://tempfile.redpandaai.co/xxx/images/user-uploads/uploaded-image.png"
                ),
                "fileSize": 154832,
                "mimeType": "image/png",
                "uploadedAt": "2025-01-01T12:00:00.000Z",
            },
        ),
    ),
    "doc_file_upload_401.json": Raises(
        UPLOAD, KieUnauthorized, 401, "Authentication failed: Invalid API Key"
    ),
}


def test_payload_directory_and_expectations_match() -> None:
    """No expectation is left over for a file that is gone."""
    assert FILES, f"no payloads in {PAYLOADS}"
    assert set(EXPECTED) - {p.name for p in FILES} == set()


def _record_of(value: object) -> TaskRecord | None:
    """Return the TaskRecord a parse result carries, if any."""
    if isinstance(value, KieCallback):
        return value.record
    return value if isinstance(value, TaskRecord) else None


def _raw_param(raw: bytes) -> str:
    """Return the ``param`` string a body's data carries ("" when it has none)."""
    data = json.loads(raw).get("data") or {}
    param = data.get("param")
    return param if isinstance(param, str) else ""


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_payload_parses_as_expected(path: Path) -> None:
    """Each body parses to its expected typed value, or raises exactly its expected error."""
    expected = EXPECTED.get(path.name)
    if expected is None:
        pytest.fail(f"{path.name} has no expectation: add one to EXPECTED in {__name__}")
    raw = path.read_bytes()
    if isinstance(expected, Raises):
        for status in (200, expected.code):
            with pytest.raises(KieError) as info:
                expected.parser(status, raw)
            error = info.value
            assert type(error) is expected.error, status
            assert (error.code, error.message) == (expected.code, expected.message)
            assert error.origin is Origin.BODY
        return
    value = expected.parser(200, raw)
    assert type(value) is type(expected.value)
    assert value == expected.value
    record = _record_of(value)
    if record is not None:
        # param is kept opaque: exactly the string kie sent.
        assert record.param == _raw_param(raw)
        assert type(record.credits_consumed) is Decimal


def test_double_encoded_param_is_kept_as_sent() -> None:
    """The newer callback double-encodes input inside param; the string is kept intact."""
    raw = (PAYLOADS / "doc_seedream_v4_callback_success_new.json").read_bytes()
    param = parse_callback(raw).record.param
    assert json.loads(json.loads(param)["input"])["seed"] == -88165251
