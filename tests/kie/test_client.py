"""Tests for KieClient against the kie.ai stand-in: states, errors and the retry rule."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from decimal import Decimal

import aiohttp
import pytest

from bot.kie import (
    DEFAULT_USER_AGENT,
    CreateTaskRequest,
    ImageSize,
    KieClient,
    KieError,
    KieFeatureDisabled,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieLimiter,
    KieMaintenance,
    KieNotFound,
    KieNotNow,
    KieOutcomeUnknown,
    KieRateLimited,
    KieRequestInvalid,
    KieServerError,
    KieSubKeyLimit,
    KieTaskNotFound,
    KieTransportError,
    KieUnauthorized,
    KieUpstreamTimeout,
    KieValidationError,
    Resolution,
    RetryPolicy,
    TaskState,
)
from imagine_standins.kie import (
    CREATE_TASK,
    CREDIT,
    DOWNLOAD_URL,
    RECORD_INFO,
    Durations,
    FakeKie,
    ManualClock,
)
from tests.kie.conftest import SleepRecorder

MakeClient = Callable[..., KieClient]
REQ = CreateTaskRequest(prompt="a lighthouse at dusk", max_images=2)

CODES: list[tuple[int, type[KieError]]] = [
    (401, KieUnauthorized),
    (402, KieInsufficientCredits),
    (408, KieUpstreamTimeout),
    (422, KieValidationError),
    (429, KieRateLimited),
    (433, KieSubKeyLimit),
    (455, KieMaintenance),
    (500, KieServerError),
    (501, KieGenerationFailed),
    (505, KieFeatureDisabled),
]
# createTask is never resent on an answer: 429/455 are "not now" and 500 is outcome unknown.
CREATE_OUTCOME_UNKNOWN = {500}
READ_RETRIED = {429, 455, 500}


async def test_every_state_then_success(make_client: MakeClient) -> None:
    """The client reads waiting, queuing, generating and success as the clock moves."""
    clock = ManualClock()
    async with FakeKie(clock=clock, durations=Durations(1.0, 1.0, 1.0)) as kie:
        client = make_client(kie)
        before = await client.get_credits()
        task_id = await client.create_task(REQ)
        seen = []
        for _ in range(4):
            rec = await client.get_task(task_id)
            seen.append(rec.state)
            clock.advance(1.0)
        assert seen == [
            TaskState.WAITING,
            TaskState.QUEUING,
            TaskState.GENERATING,
            TaskState.SUCCESS,
        ]
        assert rec.task_id == task_id
        assert rec.model == "bytedance/seedream-v4-text-to-image"
        assert len(rec.result_urls) == 2
        assert all(u.startswith(kie.base_url + "/p/" + task_id + "_") for u in rec.result_urls)
        assert rec.credits_consumed == 10
        assert isinstance(rec.credits_consumed, Decimal)
        assert rec.fail_code is None
        assert rec.complete_time is not None
        assert rec.create_time is not None
        assert rec.complete_time - rec.create_time == 3000
        param = json.loads(rec.param)
        assert json.loads(param["input"])["prompt"] == "a lighthouse at dusk"
        assert await client.get_credits() == before - 10


async def test_fail_state(make_client: MakeClient) -> None:
    """A failed task is a record in state fail, with failCode/failMsg and no cost."""
    clock = ManualClock()
    async with FakeKie(clock=clock, durations=Durations(0.5, 0.5, 0.5)) as kie:
        kie.force_fail("422", "Invalid prompt: prompt contains prohibited content")
        client = make_client(kie)
        task_id = await client.create_task(REQ)
        clock.advance(2.0)
        rec = await client.get_task(task_id)
        assert rec.state is TaskState.FAIL
        assert rec.is_terminal
        assert rec.fail_code == "422"
        assert rec.fail_msg == "Invalid prompt: prompt contains prohibited content"
        assert rec.result_urls == ()
        assert rec.credits_consumed == 0
        assert await client.get_credits() == 10_000


async def test_fewer_images_than_asked(make_client: MakeClient) -> None:
    """kie may return fewer images than max_images; the record says how many."""
    clock = ManualClock()
    async with FakeKie(clock=clock, returned_images=1) as kie:
        client = make_client(kie)
        task_id = await client.create_task(CreateTaskRequest(prompt="three cats", max_images=3))
        clock.advance(10)
        rec = await client.get_task(task_id)
        assert len(rec.result_urls) == 1
        assert rec.credits_consumed == 5


async def test_payload_and_headers_sent(kie: FakeKie, client: KieClient) -> None:
    """The client sends Bearer auth, JSON, a browser User-Agent and an explicit payload."""
    req = CreateTaskRequest(
        prompt="fox",
        image_size=ImageSize.PORTRAIT_16_9,
        image_resolution=Resolution.R4K,
        seed=-1,
        nsfw_checker=True,
        callback_url="http://127.0.0.1:9/cb",
    )
    await client.create_task(req)
    (call,) = kie.calls(CREATE_TASK)
    assert call.headers["Authorization"] == f"Bearer {kie.api_key}"
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert call.headers["User-Agent"].startswith("Mozilla/5.0")
    assert call.body == req.to_payload()


async def test_unknown_task(kie: FakeKie, client: KieClient) -> None:
    """An unknown taskId raises KieTaskNotFound without retrying."""
    with pytest.raises(KieTaskNotFound):
        await client.get_task("0" * 32)
    assert len(kie.calls(RECORD_INFO)) == 1


@pytest.mark.parametrize("http_errors", [False, True], ids=["body-code", "http-status"])
async def test_unknown_task_in_the_documented_404_form(
    make_client: MakeClient, http_errors: bool
) -> None:
    """kie's documented {"code":404,"msg":"Task not found"} is KieTaskNotFound too."""
    async with FakeKie(http_errors=http_errors) as kie:
        client = make_client(kie)
        kie.force_error(RECORD_INFO, 404, "Task not found")
        with pytest.raises(KieTaskNotFound) as info:
            await client.get_task("0" * 32)
        assert info.value.code == 404
        assert isinstance(info.value, KieNotFound)
        assert len(kie.calls(RECORD_INFO)) == 1


async def test_bare_404_page_is_not_a_lost_task(kie: FakeKie, client: KieClient) -> None:
    """A 404 page with no kie envelope (a wrong base URL, a proxy) never says a task is gone."""
    kie.force_error(
        RECORD_INFO, 0, raw_body="<h1>404 Not Found</h1>", http_status=404, content_type="text/html"
    )
    with pytest.raises(KieNotFound) as info:
        await client.get_task("0" * 32)
    assert not isinstance(info.value, KieTaskNotFound)


async def test_balance_is_exact(kie: FakeKie, client: KieClient) -> None:
    """get_credits returns the balance as an exact Decimal, fractions kept."""
    kie.force_error(CREDIT, 0, raw_body='{"code":200,"msg":"success","data":1234.56}')
    balance = await client.get_credits()
    assert isinstance(balance, Decimal)
    assert str(balance) == "1234.56"
    whole = await client.get_credits()
    assert isinstance(whole, Decimal)
    assert whole == 10_000


async def test_fractional_charge_and_nonsense_times_from_the_wire(
    kie: FakeKie, client: KieClient
) -> None:
    """A live-shaped record: 0.8 credits stays exactly 0.8; nonsense times become None."""
    record = (
        '{"code":200,"msg":"success","data":{"taskId":"t1","model":"m","state":"success",'
        '"param":"{}","resultJson":"{\\"resultUrls\\":[\\"https://x/1.jpg\\"]}",'
        '"creditsConsumed":0.8,"costTime":1e400,"createTime":NaN,"completeTime":-5,'
        '"operationType":"generate","successFlag":1,"response":{"resultUrls":["https://x/1.jpg"]}}}'
    )
    kie.force_error(RECORD_INFO, 0, raw_body=record)
    rec = await client.get_task("t1")
    assert rec.state is TaskState.SUCCESS
    assert rec.result_urls == ("https://x/1.jpg",)
    assert rec.credits_consumed == Decimal("0.8")
    assert str(rec.credits_consumed) == "0.8"
    assert (rec.cost_time, rec.create_time, rec.complete_time) == (None, None, None)


async def test_credits_and_download_url(make_client: MakeClient) -> None:
    """Credits read the balance; download-url swaps a result URL for a working link."""
    clock = ManualClock()
    async with FakeKie(clock=clock, credits=77) as kie:
        client = make_client(kie)
        assert await client.get_credits() == 77
        task_id = await client.create_task(CreateTaskRequest(prompt="x"))
        clock.advance(10)
        rec = await client.get_task(task_id)
        link = await client.get_download_url(rec.result_urls[0])
        assert link.startswith(kie.base_url + "/dl/")
        with pytest.raises(KieValidationError):
            await client.get_download_url("https://example.com/not-kie.jpg")


async def test_client_validates_before_sending(kie: FakeKie, client: KieClient) -> None:
    """An invalid request raises KieRequestInvalid and nothing reaches kie."""
    with pytest.raises(KieRequestInvalid) as info:
        await client.create_task(CreateTaskRequest(prompt="x", max_images=9))
    assert info.value.field == "max_images"
    with pytest.raises(KieRequestInvalid):
        await client.get_task("")
    assert kie.requests == []


async def test_wrong_key_is_unauthorized_and_never_leaks(
    kie: FakeKie, make_client: MakeClient
) -> None:
    """A wrong key gives KieUnauthorized, and no error text or log line holds the key."""
    secret = "sk-very-secret-key-123"
    kie.force_error(CREDIT, 401, f"bad key {secret}")
    client = make_client(kie, api_key=secret)
    with pytest.raises(KieUnauthorized) as info:
        await client.get_credits()
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert secret not in info.value.message
    assert secret not in repr(client)
    with pytest.raises(KieUnauthorized) as info:
        await client.create_task(REQ)
    assert info.value.message == "You do not have access permissions"
    assert kie.tasks == {}


@pytest.mark.parametrize("http_errors", [False, True], ids=["body-code", "http-status"])
@pytest.mark.parametrize(("code", "cls"), CODES, ids=[str(c) for c, _ in CODES])
async def test_create_task_error_codes(
    make_client: MakeClient,
    sleeps: SleepRecorder,
    code: int,
    cls: type[KieError],
    http_errors: bool,
) -> None:
    """Every kie code on createTask raises at once, sent once; a 500 is outcome unknown."""
    async with FakeKie(http_errors=http_errors) as kie:
        client = make_client(kie)
        kie.force_error(CREATE_TASK, code, "forced", times=10)
        expected = KieOutcomeUnknown if code in CREATE_OUTCOME_UNKNOWN else cls
        with pytest.raises(expected) as info:
            await client.create_task(REQ)
        error = info.value
        if isinstance(error, KieOutcomeUnknown):
            assert error.request is REQ
            assert isinstance(error.__cause__, cls)
            error = error.__cause__
        assert error.code == code
        assert kie.calls(CREATE_TASK)[0].status == (code if http_errors else 200)
        assert len(kie.calls(CREATE_TASK)) == 1
        assert sleeps.delays == []
        assert kie.tasks == {}


@pytest.mark.parametrize("http_errors", [False, True], ids=["body-code", "http-status"])
@pytest.mark.parametrize(("code", "cls"), CODES, ids=[str(c) for c, _ in CODES])
async def test_get_task_error_codes(
    make_client: MakeClient, code: int, cls: type[KieError], http_errors: bool
) -> None:
    """Every kie code on recordInfo raises its class; 429/455/500 are retried first."""
    async with FakeKie(http_errors=http_errors) as kie:
        client = make_client(kie)
        task_id = await client.create_task(REQ)
        kie.force_error(RECORD_INFO, code, "forced", times=10)
        with pytest.raises(cls):
            await client.get_task(task_id)
        assert len(kie.calls(RECORD_INFO)) == (4 if code in READ_RETRIED else 1)


async def test_real_rejections_from_the_stand_in(make_client: MakeClient) -> None:
    """Credits, maintenance and feature switches produce 402, 455 and 505."""
    async with FakeKie(credits=9) as kie:
        client = make_client(kie)
        with pytest.raises(KieInsufficientCredits):
            await client.create_task(REQ)
        kie.feature_disabled = True
        with pytest.raises(KieFeatureDisabled):
            await client.create_task(CreateTaskRequest(prompt="x"))
        kie.maintenance = True
        with pytest.raises(KieMaintenance):
            await client.get_credits()
        assert kie.tasks == {}


async def test_hanging_create_is_outcome_unknown_and_never_resent(
    make_client: MakeClient,
) -> None:
    """A createTask that times out raises KieOutcomeUnknown; exactly one call, one task."""
    async with FakeKie(hang_create=30.0) as kie:
        client = make_client(kie, request_timeout=0.3)
        with pytest.raises(KieOutcomeUnknown) as info:
            await client.create_task(REQ)
        assert info.value.request is REQ
        assert len(kie.calls(CREATE_TASK)) == 1
        assert len(kie.tasks_created()) == 1


@pytest.mark.parametrize(("code", "cls"), [(429, KieRateLimited), (455, KieMaintenance)])
@pytest.mark.parametrize("http_errors", [False, True], ids=["body-code", "http-status"])
async def test_create_not_now_is_raised_at_once(
    make_client: MakeClient,
    sleeps: SleepRecorder,
    code: int,
    cls: type[KieNotNow],
    http_errors: bool,
) -> None:
    """A 429 or 455 createTask raises KieNotNow at once: one call, no sleep, no task."""
    async with FakeKie(http_errors=http_errors) as kie:
        client = make_client(kie)
        kie.force_error(CREATE_TASK, code, "not now", times=2)
        with pytest.raises(cls) as info:
            await client.create_task(REQ)
        assert isinstance(info.value, KieNotNow)
        assert info.value.retry_after is None
        assert len(kie.calls(CREATE_TASK)) == 1
        assert sleeps.delays == []
        assert kie.tasks_created() == []


@pytest.mark.parametrize(("code", "cls"), [(429, KieRateLimited), (455, KieMaintenance)])
@pytest.mark.parametrize(("header", "seconds"), [(7, 7.0), (120, 120.0), (0, 0.0)])
async def test_create_not_now_carries_retry_after(
    kie: FakeKie,
    client: KieClient,
    sleeps: SleepRecorder,
    code: int,
    cls: type[KieNotNow],
    header: int,
    seconds: float,
) -> None:
    """The answer's Retry-After reaches the caller in seconds; the client never waits on it."""
    kie.force_error(CREATE_TASK, code, "later", http_status=code, retry_after=header)
    with pytest.raises(cls) as info:
        await client.create_task(REQ)
    assert info.value.retry_after == seconds
    assert len(kie.calls(CREATE_TASK)) == 1
    assert sleeps.delays == []
    assert kie.tasks_created() == []


@pytest.mark.parametrize(
    "msg",
    [
        "This field is required",
        "enable_safety_checker it must be a boolean",
        "Server Error - An unexpected error occurred while processing the request",
    ],
)
@pytest.mark.parametrize("http_errors", [False, True], ids=["body-code", "http-status"])
async def test_create_500_is_outcome_unknown_and_never_resent(
    make_client: MakeClient, sleeps: SleepRecorder, msg: str, http_errors: bool
) -> None:
    """kie's 500 also answers invalid requests, so it proves nothing: unknown, never resent."""
    async with FakeKie(http_errors=http_errors) as kie:
        client = make_client(kie)
        kie.force_error(CREATE_TASK, 500, msg, times=2)
        with pytest.raises(KieOutcomeUnknown) as info:
            await client.create_task(REQ)
        assert info.value.request is REQ
        assert isinstance(info.value.__cause__, KieServerError)
        assert msg in str(info.value)
        assert len(kie.calls(CREATE_TASK)) == 1
        assert sleeps.delays == []


async def test_rate_limit_retry_after_is_honoured_on_reads(
    kie: FakeKie, client: KieClient, sleeps: SleepRecorder
) -> None:
    """A read's 429 Retry-After sets the delay; one over 60 s stops retrying."""
    task_id = await client.create_task(REQ)
    kie.force_error(RECORD_INFO, 429, "slow", http_status=429, retry_after=7)
    assert (await client.get_task(task_id)).task_id == task_id
    assert sleeps.delays == [7.0]
    kie.force_error(RECORD_INFO, 429, "slow", http_status=429, retry_after=120, times=5)
    with pytest.raises(KieRateLimited) as info:
        await client.get_task("whatever")
    assert info.value.retry_after == 120
    assert len(kie.calls(RECORD_INFO)) == 3


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, "<html><body>502 Bad Gateway</body></html>"),
        (504, "gateway timeout"),
        (200, "<html>maintenance page</html>"),
        (200, '{"code":200,"msg":"success","data":null}'),
        (502, '{"code":200,"msg":"success","data":{"taskId":"abc"}}'),
        (429, '{"code":200,"msg":"success","data":{"taskId":"abc"}}'),
    ],
)
async def test_unreadable_create_answer_is_outcome_unknown(
    kie: FakeKie, client: KieClient, status: int, body: str
) -> None:
    """A createTask answer that cannot prove anything is never resent."""
    kie.force_error(CREATE_TASK, 0, raw_body=body, http_status=status, content_type="text/html")
    with pytest.raises(KieOutcomeUnknown):
        await client.create_task(REQ)
    assert len(kie.calls(CREATE_TASK)) == 1


async def test_cloudflare_block_is_clear_and_final(make_client: MakeClient) -> None:
    """A non-browser User-Agent meets Cloudflare's 1010 page; the default UA passes."""
    async with FakeKie(require_browser_ua=True) as kie:
        blocked = make_client(kie, user_agent="Python/3.11 aiohttp/3")
        with pytest.raises(KieError) as info:
            await blocked.create_task(REQ)
        assert not isinstance(info.value, KieOutcomeUnknown)
        assert info.value.code == 403
        assert "Cloudflare" in str(info.value)
        assert len(kie.calls(CREATE_TASK)) == 1
        assert await make_client(kie).create_task(REQ)


async def test_reads_retry_transient_errors(
    kie: FakeKie, client: KieClient, sleeps: SleepRecorder
) -> None:
    """recordInfo, credits and download-url retry through 429/455/500 and succeed."""
    task_id = await client.create_task(REQ)
    kie.force_error(RECORD_INFO, 429, times=1)
    kie.force_error(RECORD_INFO, 455, times=1)
    kie.force_error(RECORD_INFO, 500, times=1)
    rec = await client.get_task(task_id)
    assert rec.task_id == task_id
    assert len(kie.calls(RECORD_INFO)) == 4
    kie.force_error(CREDIT, 500, http_status=503)
    assert await client.get_credits() == 10_000
    kie.force_error(DOWNLOAD_URL, 455)
    with pytest.raises(KieValidationError):
        await client.get_download_url("https://elsewhere.example/x.jpg")
    assert len(kie.calls(DOWNLOAD_URL)) == 2
    assert len(sleeps.delays) == 5


async def test_read_timeout_is_retried(
    kie: FakeKie, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    """A recordInfo that times out is sent again."""
    client = make_client(kie, request_timeout=0.3)
    task_id = await client.create_task(REQ)
    kie.force_delay(RECORD_INFO, 5.0)
    rec = await client.get_task(task_id)
    assert rec.task_id == task_id
    assert len(kie.calls(RECORD_INFO)) == 2
    assert len(sleeps.delays) == 1


def _closed_port() -> int:
    """Return a local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused(
    session: aiohttp.ClientSession, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """No server: reads and createTask retry, then raise KieTransportError; key not logged."""
    secret = "sk-never-log-me"
    client = KieClient(
        session,
        base_url=f"http://127.0.0.1:{_closed_port()}",
        api_key=secret,
        limiter=KieLimiter(),
        retry=RetryPolicy(rand=lambda: 0.0),
        sleep=sleeps,
    )
    caplog.set_level(logging.DEBUG, logger="bot.kie")
    with pytest.raises(KieTransportError):
        await client.get_credits()
    with pytest.raises(KieTransportError) as info:
        await client.create_task(REQ)
    assert not isinstance(info.value, KieOutcomeUnknown)
    assert len(sleeps.delays) == 6
    assert caplog.records
    assert secret not in caplog.text
    assert secret not in str(info.value)


async def test_read_timeouts_exhaust_into_transport_error(
    kie: FakeKie, make_client: MakeClient, sleeps: SleepRecorder
) -> None:
    """A read that times out on every attempt raises KieTransportError after 3 retries."""
    client = make_client(kie, request_timeout=0.2)
    kie.force_delay(CREDIT, 5.0, times=4)
    with pytest.raises(KieTransportError, match="4 attempts"):
        await client.get_credits()
    assert len(kie.calls(CREDIT)) == 4
    assert len(sleeps.delays) == 3


async def test_invalid_base_url_is_a_transport_error(
    session: aiohttp.ClientSession, sleeps: SleepRecorder
) -> None:
    """A base URL aiohttp cannot use fails at once, never as an unknown outcome."""
    client = KieClient(
        session, base_url="nonsense", api_key="k", limiter=KieLimiter(), sleep=sleeps
    )
    with pytest.raises(KieTransportError):
        await client.create_task(REQ)
    with pytest.raises(KieTransportError):
        await client.get_credits()
    assert sleeps.delays == []
