"""Tests for the retry rule: the backoff numbers and the verdict table (no I/O)."""

from __future__ import annotations

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
    KieUnauthorized,
    KieUnexpectedResponse,
    KieUpstreamTimeout,
    KieValidationError,
    RetryPolicy,
    parse_create_task_response,
)
from bot.kie.errors import Origin
from bot.kie.retry import Action, Call, Said, Transport, Verdict, said, verdict

READ, CREATE = Call.READ, Call.CREATE
RETRY, FINAL, LATER, UNKNOWN = Action.RETRY, Action.FINAL, Action.NOT_NOW, Action.OUTCOME_UNKNOWN
BODY, STATUS, CONFLICT = Origin.BODY, Origin.STATUS, Origin.CONFLICT
POLICY = RetryPolicy(rand=lambda: 1.0)


def test_backoff_is_exponential_capped_and_bounded() -> None:
    """Delays double from 0.5 s, stop at the cap, and run out after max_retries."""
    policy = RetryPolicy(rand=lambda: 1.0)
    assert [policy.delay(n) for n in range(4)] == [0.5, 1.0, 2.0, None]
    long = RetryPolicy(max_retries=10, rand=lambda: 1.0)
    assert long.delay(4) == 8.0
    assert long.delay(9) == 8.0


def test_full_jitter_scales_the_delay() -> None:
    """Full jitter draws the delay uniformly below the exponential bound."""
    assert RetryPolicy(rand=lambda: 0.0).delay(2) == 0.0
    assert RetryPolicy(rand=lambda: 0.25).delay(2) == 0.5


def test_retry_after_rules() -> None:
    """Retry-After up to 60 s replaces the delay; a longer one ends retrying."""
    policy = RetryPolicy(rand=lambda: 1.0)
    assert policy.delay(0, retry_after=12.0) == 12.0
    assert policy.delay(0, retry_after=60.0) == 60.0
    assert policy.delay(0, retry_after=61.0) is None
    assert policy.delay(3, retry_after=1.0) is None


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (KieRateLimited(429, "x"), True),
        (KieMaintenance(455, "x"), True),
        (KieServerError(500, "x"), True),
        (KieServerError(503, "x"), True),
        (KieGenerationFailed(501, "x"), False),
        (KieFeatureDisabled(505, "x"), False),
        (KieUnauthorized(401, "x"), False),
        (KieValidationError(422, "x"), False),
        (KieError(418, "x"), False),
    ],
)
def test_read_retry_classes(exc: KieError, retry: bool) -> None:
    """Reads retry on 429, 455 and 5xx only."""
    assert (verdict(READ, exc, attempt=0).action is RETRY) is retry


@pytest.mark.parametrize(
    ("exc", "row"),
    [
        (KieRateLimited(429, "x"), Said.NOT_NOW),
        (KieMaintenance(455, "x"), Said.NOT_NOW),
        (KieServerError(500, "x"), Said.SERVER_ERROR),
        (KieServerError(502, "x"), Said.SERVER_ERROR),
        (KieUpstreamTimeout(408, "x"), Said.FAILED),
        (KieGenerationFailed(501, "x"), Said.FAILED),
        (KieFeatureDisabled(505, "x"), Said.FAILED),
        (KieError(520, "Cloudflare"), Said.FAILED),
        (KieUnauthorized(401, "x"), Said.REFUSED),
        (KieError(403, "Cloudflare"), Said.REFUSED),
        (KieError(None, "local"), Said.REFUSED),
        (KieUnexpectedResponse(200, "x"), Said.UNREADABLE),
    ],
)
def test_said_sorts_errors_into_rows(exc: KieError, row: Said) -> None:
    """Each kie error falls into one row of the table."""
    assert said(exc) is row


# call, failure, what the rule does.
VERDICTS: list[tuple[Call, KieError | Transport, Action]] = [
    # Transport failures: a read is always resent; a createTask only when nothing left.
    (READ, Transport.BAD_URL, FINAL),
    (READ, Transport.NOT_CONNECTED, RETRY),
    (READ, Transport.NO_ANSWER, RETRY),
    (CREATE, Transport.BAD_URL, FINAL),
    (CREATE, Transport.NOT_CONNECTED, RETRY),
    (CREATE, Transport.NO_ANSWER, UNKNOWN),
    # Reads look only at what the code says, wherever it came from.
    (READ, KieRateLimited(429, "x", origin=BODY), RETRY),
    (READ, KieRateLimited(429, "x", origin=CONFLICT), RETRY),
    (READ, KieMaintenance(455, "x", origin=STATUS), RETRY),
    (READ, KieServerError(500, "x", origin=BODY), RETRY),
    (READ, KieServerError(502, "x", origin=STATUS), RETRY),
    (READ, KieServerError(502, "x", origin=CONFLICT), RETRY),
    (READ, KieGenerationFailed(501, "x", origin=STATUS), FINAL),
    (READ, KieUpstreamTimeout(408, "x", origin=STATUS), FINAL),
    (READ, KieError(520, "x", origin=STATUS), FINAL),
    (READ, KieUnauthorized(401, "x", origin=CONFLICT), FINAL),
    (READ, KieUnexpectedResponse(200, "x", origin=STATUS), FINAL),
    # createTask, kie's own envelope: kie handled it, so only the code decides. Only a 429 or a
    # 455 proves nothing was made, and it is "not now", raised at once, never retried here;
    # kie's 500 also answers invalid requests, so it proves nothing: outcome unknown.
    (CREATE, KieRateLimited(429, "x", origin=BODY), LATER),
    (CREATE, KieMaintenance(455, "x", origin=BODY), LATER),
    (CREATE, KieServerError(500, "x", origin=BODY), UNKNOWN),
    (CREATE, KieServerError(502, "x", origin=BODY), UNKNOWN),
    (CREATE, KieValidationError(400, "x", origin=BODY), FINAL),
    (CREATE, KieUnauthorized(401, "x", origin=BODY), FINAL),
    (CREATE, KieInsufficientCredits(402, "x", origin=BODY), FINAL),
    (CREATE, KieNotFound(404, "x", origin=BODY), FINAL),
    (CREATE, KieUpstreamTimeout(408, "x", origin=BODY), FINAL),
    (CREATE, KieValidationError(422, "x", origin=BODY), FINAL),
    (CREATE, KieSubKeyLimit(433, "x", origin=BODY), FINAL),
    (CREATE, KieGenerationFailed(501, "x", origin=BODY), FINAL),
    (CREATE, KieFeatureDisabled(505, "x", origin=BODY), FINAL),
    (CREATE, KieError(418, "x", origin=BODY), FINAL),
    (CREATE, KieUnexpectedResponse(200, "no taskId", origin=BODY), UNKNOWN),
    # createTask, bare HTTP status: 4xx is an edge refusal; 5xx and 408 pages prove nothing.
    (CREATE, KieRateLimited(429, "x", origin=STATUS), LATER),
    (CREATE, KieMaintenance(455, "x", origin=STATUS), LATER),
    (CREATE, KieError(403, "Cloudflare 1010", origin=STATUS), FINAL),
    (CREATE, KieUnauthorized(401, "x", origin=STATUS), FINAL),
    (CREATE, KieSubKeyLimit(433, "x", origin=STATUS), FINAL),
    (CREATE, KieServerError(500, "x", origin=STATUS), UNKNOWN),
    (CREATE, KieServerError(502, "x", origin=STATUS), UNKNOWN),
    (CREATE, KieUpstreamTimeout(408, "x", origin=STATUS), UNKNOWN),
    (CREATE, KieGenerationFailed(501, "x", origin=STATUS), UNKNOWN),
    (CREATE, KieFeatureDisabled(505, "x", origin=STATUS), UNKNOWN),
    (CREATE, KieError(520, "Cloudflare", origin=STATUS), UNKNOWN),
    (CREATE, KieUnexpectedResponse(200, "html", origin=STATUS), UNKNOWN),
    # createTask, success body under an error status: a task may exist.
    (CREATE, KieRateLimited(429, "x", origin=CONFLICT), UNKNOWN),
    (CREATE, KieMaintenance(455, "x", origin=CONFLICT), UNKNOWN),
    (CREATE, KieServerError(502, "x", origin=CONFLICT), UNKNOWN),
    (CREATE, KieUnauthorized(401, "x", origin=CONFLICT), UNKNOWN),
]


@pytest.mark.parametrize(("call", "failure", "action"), VERDICTS)
def test_verdict_table(call: Call, failure: KieError | Transport, action: Action) -> None:
    """Each kind of failure gets its documented verdict on its first attempt."""
    assert verdict(call, failure, attempt=0, policy=POLICY).action is action


def _create_error(status: int, body: str) -> KieError:
    """Return the error a createTask answer parses to."""
    with pytest.raises(KieError) as info:
        parse_create_task_response(status, body)
    return info.value


@pytest.mark.parametrize(
    ("status", "body", "action"),
    [
        (200, '{"code":429,"msg":"slow"}', LATER),
        (429, "Too Many Requests", LATER),
        (200, '{"code":455,"msg":"maintenance"}', LATER),
        (200, '{"code":500,"msg":"This field is required"}', UNKNOWN),
        (200, '{"code":500,"msg":"enable_safety_checker it must be a boolean"}', UNKNOWN),
        (500, '{"code":500,"msg":"Server Error"}', UNKNOWN),
        (200, '{"code":401,"msg":"You do not have access permissions"}', FINAL),
        (200, '{"code":402,"msg":"Credits insufficient"}', FINAL),
        (200, '{"code":422,"msg":"bad"}', FINAL),
        (200, '{"code":433,"msg":"sub-key limit"}', FINAL),
        (200, '{"code":501,"msg":"failed"}', FINAL),
        (200, '{"code":505,"msg":"disabled"}', FINAL),
        (403, "error code: 1010", FINAL),
        (502, "<html>502 Bad Gateway</html>", UNKNOWN),
        (504, "gateway timeout", UNKNOWN),
        (408, "", UNKNOWN),
        (200, "<html>maintenance page</html>", UNKNOWN),
        (200, '{"code":200,"msg":"success","data":null}', UNKNOWN),
        (502, '{"code":200,"msg":"success","data":{"taskId":"abc"}}', UNKNOWN),
        (429, '{"code":200,"msg":"success","data":{"taskId":"abc"}}', UNKNOWN),
    ],
)
def test_create_answers_end_to_verdict(status: int, body: str, action: Action) -> None:
    """Raw createTask answers, parsed and judged, get the verdict the contract gives them."""
    exc = _create_error(status, body)
    assert verdict(CREATE, exc, attempt=0, policy=POLICY).action is action


def test_retry_carries_the_backoff_delay() -> None:
    """A retry's delay is the policy's; the last attempt's failure is final."""
    exc = KieServerError(500, "x")
    assert verdict(READ, exc, attempt=0, policy=POLICY) == Verdict(RETRY, 0.5)
    assert verdict(READ, exc, attempt=2, policy=POLICY) == Verdict(RETRY, 2.0)
    assert verdict(READ, exc, attempt=3, policy=POLICY) == Verdict(FINAL)
    refused = Transport.NOT_CONNECTED
    assert verdict(CREATE, refused, attempt=2, policy=POLICY) == Verdict(RETRY, 2.0)
    assert verdict(CREATE, refused, attempt=3, policy=POLICY) == Verdict(FINAL)
    assert verdict(READ, Transport.NO_ANSWER, attempt=3, policy=POLICY) == Verdict(FINAL)


def test_retry_after_is_honoured_on_429_reads_only() -> None:
    """A read 429's Retry-After sets the delay (over 60 s ends retrying); others' is ignored."""
    limited = KieRateLimited(429, "x", retry_after=7.0)
    assert verdict(READ, limited, attempt=0, retry_after=7.0, policy=POLICY) == Verdict(RETRY, 7.0)
    assert verdict(READ, limited, attempt=0, retry_after=61.0, policy=POLICY) == Verdict(FINAL)
    busy = KieMaintenance(455, "x", retry_after=30.0)
    assert verdict(READ, busy, attempt=0, retry_after=30.0, policy=POLICY) == Verdict(RETRY, 0.5)


@pytest.mark.parametrize("retry_after", [None, 7.0, 61.0, 3600.0])
@pytest.mark.parametrize("cls", [KieRateLimited, KieMaintenance])
def test_create_not_now_is_never_retried_whatever_retry_after_says(
    cls: type[KieRateLimited | KieMaintenance], retry_after: float | None
) -> None:
    """createTask's 429/455 is "not now" at once on any attempt: the caller chooses when."""
    exc = cls(429 if cls is KieRateLimited else 455, "x", retry_after=retry_after)
    for attempt in (0, 1, 3):
        judged = verdict(CREATE, exc, attempt=attempt, retry_after=retry_after, policy=POLICY)
        assert judged == Verdict(LATER)


def test_give_up_verdicts_have_no_delay() -> None:
    """Final, not-now and unknown verdicts never ask the loop to sleep."""
    assert verdict(CREATE, Transport.NO_ANSWER, attempt=0) == Verdict(UNKNOWN)
    assert verdict(CREATE, KieServerError(500, "x"), attempt=0) == Verdict(UNKNOWN)
    assert verdict(CREATE, KieRateLimited(429, "x"), attempt=0) == Verdict(LATER)
    assert verdict(READ, KieUnauthorized(401, "x"), attempt=0) == Verdict(FINAL)
