"""Tests for the kie.ai stand-in itself: it must refuse what kie refuses."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from bot.kie import parse_callback, verify
from imagine_standins.kie.images import LARGE_MIN_BYTES, image_dimensions
from imagine_standins.kie.server import (
    CREATE_TASK,
    RECORD_INFO,
    Durations,
    FakeKie,
    ManualClock,
)

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ROOT = Path(__file__).resolve().parents[3]


def body(**input_changes: Any) -> dict[str, Any]:
    """Return a valid createTask body with some input fields changed (None removes)."""
    inp: dict[str, Any] = {
        "prompt": "a fox",
        "image_size": "square_hd",
        "image_resolution": "1K",
        "max_images": 1,
    }
    for key, value in input_changes.items():
        if value is None:
            inp.pop(key)
        else:
            inp[key] = value
    return {"model": "bytedance/seedream-v4-text-to-image", "input": inp}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Open a plain HTTP session."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    """Run a stand-in with a manual clock."""
    async with FakeKie(clock=ManualClock(), durations=Durations(1, 1, 1)) as fake:
        yield fake


async def call(
    http: aiohttp.ClientSession,
    kie: FakeKie,
    method: str,
    path: str,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, dict[str, Any]]:
    """Send one request and return (HTTP status, JSON body)."""
    hdrs = AUTH if headers is None else headers
    if payload is not None:
        kwargs["json"] = payload
    async with http.request(method, kie.base_url + path, headers=hdrs, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def create(http: aiohttp.ClientSession, kie: FakeKie, payload: Any) -> dict[str, Any]:
    """POST createTask and return the JSON body."""
    return (await call(http, kie, "POST", "/api/v1/jobs/createTask", payload))[1]


async def record(http: aiohttp.ClientSession, kie: FakeKie, task_id: str) -> dict[str, Any]:
    """GET recordInfo and return the JSON body."""
    return (await call(http, kie, "GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id}))[1]


REFUSALS: list[tuple[Any, int, str]] = [
    ([1, 2], 422, "JSON object"),
    ({**body(), "extra": 1}, 422, "extra"),
    ({"input": body()["input"]}, 500, "This field is required"),
    ({"model": "bytedance/seedream-v4-text-to-image"}, 500, "This field is required"),
    ({**body(), "model": "bytedance/seedream-v5"}, 422, "does not exist"),
    ({**body(), "model": 4}, 422, "does not exist"),
    (body(prompt=None), 500, "This field is required"),
    (body(image_size=None), 500, "This field is required"),
    (body(image_resolution=None), 500, "This field is required"),
    (body(max_images=None), 500, "This field is required"),
    (body(prompt=""), 422, "prompt"),
    (body(prompt="   "), 422, "prompt"),
    (body(prompt="x" * 5001), 422, "prompt"),
    (body(prompt=5), 422, "prompt"),
    (body(image_size="1:1"), 422, "image_size"),
    (body(image_resolution="8K"), 422, "image_resolution"),
    (body(max_images=0), 422, "max_images"),
    (body(max_images=7), 422, "max_images"),
    (body(max_images=True), 422, "max_images"),
    (body(max_images=2.0), 422, "max_images"),
    (body(max_images="2"), 422, "max_images"),
    (body(seed=1.5), 422, "seed"),
    (body(seed="42"), 422, "seed"),
    (body(nsfw_checker="true"), 422, "nsfw_checker"),
    (body(guidance_scale=2.5), 422, "guidance_scale"),
    ({**body(), "callBackUrl": 5}, 422, "callBackUrl"),
    ({**body(), "callBackUrl": "not a url"}, 422, "callBackUrl"),
    ({**body(), "input": "prompt=fox"}, 422, "input"),
]


@pytest.mark.parametrize(("payload", "code", "fragment"), REFUSALS)
async def test_create_refuses_invalid_input(
    http: aiohttp.ClientSession, kie: FakeKie, payload: Any, code: int, fragment: str
) -> None:
    """Each invalid createTask body is refused with kie's code and a specific msg."""
    answer = await create(http, kie, payload)
    assert answer["code"] == code
    assert fragment in answer["msg"]
    assert answer["data"] is None
    assert kie.tasks == {}


async def test_create_accepts_documented_example(http: aiohttp.ClientSession, kie: FakeKie) -> None:
    """The official request example (with seed, nsfw_checker, callBackUrl) is accepted."""
    payload = {
        "model": "bytedance/seedream-v4-text-to-image",
        "callBackUrl": "https://your-domain.com/api/callback",
        "input": {
            "prompt": "Draw the following system of binary linear equations",
            "image_size": "square_hd",
            "image_resolution": "1K",
            "max_images": 1,
            "seed": -88165251,
            "nsfw_checker": True,
        },
    }
    answer = await create(http, kie, payload)
    assert answer["code"] == 200
    assert answer["msg"] == "success"
    assert answer["data"]["taskId"] in kie.tasks


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": KEY}],
    ids=["missing", "wrong", "no-bearer"],
)
async def test_auth(http: aiohttp.ClientSession, kie: FakeKie, headers: dict[str, str]) -> None:
    """A missing or wrong Bearer token is refused with 401 on every endpoint."""
    for method, path in [
        ("POST", "/api/v1/jobs/createTask"),
        ("GET", "/api/v1/jobs/recordInfo?taskId=x"),
        ("GET", "/api/v1/chat/credit"),
        ("POST", "/api/v1/common/download-url"),
    ]:
        status, answer = await call(http, kie, method, path, body(), headers=headers)
        assert status == 200
        assert answer == {"code": 401, "msg": "You do not have access permissions", "data": None}


async def test_post_needs_json_content_type(http: aiohttp.ClientSession, kie: FakeKie) -> None:
    """A POST that is not application/json is refused."""
    _, answer = await call(
        http,
        kie,
        "POST",
        "/api/v1/jobs/createTask",
        headers={**AUTH, "Content-Type": "text/plain"},
        data=json.dumps(body()),
    )
    assert answer["code"] == 401
    assert "Content-Type" in answer["msg"]
    assert kie.tasks == {}


async def test_http_errors_switch(http: aiohttp.ClientSession) -> None:
    """With http_errors the HTTP status carries the code too."""
    async with FakeKie(http_errors=True) as kie:
        status, answer = await call(http, kie, "GET", "/api/v1/chat/credit", headers={})
        assert (status, answer["code"]) == (401, 401)
        status, answer = await call(
            http, kie, "GET", "/api/v1/jobs/recordInfo", params={"taskId": "nope"}
        )
        assert (status, answer) == (422, {"code": 422, "msg": "recordInfo is null", "data": None})
        status, answer = await call(http, kie, "GET", "/api/v1/chat/credit")
        assert (status, answer["code"]) == (200, 200)


async def test_unknown_routes(http: aiohttp.ClientSession, kie: FakeKie) -> None:
    """Unknown routes and methods answer 404 and are recorded."""
    status, _ = await call(http, kie, "GET", "/api/v1/credit")
    assert status == 404
    status, _ = await call(http, kie, "GET", "/api/v1/jobs/createTask")
    assert status == 404
    assert kie.unhandled == ["GET /api/v1/credit", "GET /api/v1/jobs/createTask"]


async def test_lifecycle_and_record_shape(http: aiohttp.ClientSession) -> None:
    """A task moves waiting → queuing → generating → success with kie's record fields."""
    clock = ManualClock()
    async with FakeKie(clock=clock, durations=Durations(1, 2, 3)) as kie:
        payload = {**body(max_images=2), "callBackUrl": "http://127.0.0.1:9/cb"}
        task_id = (await create(http, kie, payload))["data"]["taskId"]
        states = []
        for step in (0, 1, 2, 3):
            clock.advance(step)
            states.append((await record(http, kie, task_id))["data"]["state"])
        assert states == ["waiting", "queuing", "generating", "success"]
        data = (await record(http, kie, task_id))["data"]
        param = json.loads(data["param"])
        assert isinstance(param["input"], str), "newer docs double-encode input"
        assert json.loads(param["input"]) == payload["input"]
        assert param["callBackUrl"] == payload["callBackUrl"]
        assert param["model"] == payload["model"]
        urls = json.loads(data["resultJson"])["resultUrls"]
        assert len(urls) == 2
        for n, url in enumerate(urls, start=1):
            name = url.rsplit("/", 1)[1]
            tid, idx, unix, rand = name.removesuffix(".jpg").split("_")
            assert (tid, int(idx)) == (task_id, n)
            assert abs(int(unix) - time.time()) < 60
            assert len(rand) == 4
            assert rand.isdigit()
        assert data["failCode"] == ""
        assert data["costTime"] == 5
        assert data["completeTime"] - data["createTime"] == 6000
        assert data["updateTime"] == data["completeTime"]
        assert data["creditsConsumed"] == 10
        assert kie.credits == 10_000 - 10


async def test_in_progress_record_has_no_result(http: aiohttp.ClientSession, kie: FakeKie) -> None:
    """Before the end, resultJson is empty, completeTime null and nothing is charged."""
    task_id = (await create(http, kie, body()))["data"]["taskId"]
    data = (await record(http, kie, task_id))["data"]
    assert data["state"] == "waiting"
    assert data["resultJson"] == ""
    assert data["completeTime"] is None
    assert data["costTime"] is None
    assert data["creditsConsumed"] == 0


async def test_fail_word_and_forced_fail(http: aiohttp.ClientSession) -> None:
    """A prompt with the fail word, or a forced failure, ends in fail and costs nothing."""
    clock = ManualClock()
    async with FakeKie(clock=clock, fail_word="forbidden") as kie:
        bad = (await create(http, kie, body(prompt="a FORBIDDEN thing")))["data"]["taskId"]
        kie.force_fail("500", "Internal server error")
        forced = (await create(http, kie, body()))["data"]["taskId"]
        fine = (await create(http, kie, body()))["data"]["taskId"]
        clock.advance(60)
        results = {t: (await record(http, kie, t))["data"] for t in (bad, forced, fine)}
        assert results[bad]["state"] == "fail"
        assert results[bad]["failCode"] == "422"
        assert results[bad]["failMsg"] == "Invalid prompt: prompt contains prohibited content"
        assert results[forced]["failCode"] == "500"
        assert results[forced]["creditsConsumed"] == 0
        assert results[fine]["state"] == "success"
        assert kie.credits == 10_000 - 5


async def test_per_task_durations(http: aiohttp.ClientSession) -> None:
    """Durations may depend on the request."""
    clock = ManualClock()

    def timings(req: dict[str, Any]) -> Durations:
        """Make 4K tasks slow."""
        return Durations(0, 0, 10 if req["input"]["image_resolution"] == "4K" else 1)

    async with FakeKie(clock=clock, durations=timings) as kie:
        slow = (await create(http, kie, body(image_resolution="4K")))["data"]["taskId"]
        quick = (await create(http, kie, body()))["data"]["taskId"]
        clock.advance(2)
        assert (await record(http, kie, slow))["data"]["state"] == "generating"
        assert (await record(http, kie, quick))["data"]["state"] == "success"


async def test_credits_gate_and_balance(http: aiohttp.ClientSession) -> None:
    """createTask needs 5 credits per asked image; success pays for the images returned."""
    clock = ManualClock()
    async with FakeKie(clock=clock, credits=12, returned_images=1) as kie:
        assert (await create(http, kie, body(max_images=3)))["code"] == 402
        task_id = (await create(http, kie, body(max_images=2)))["data"]["taskId"]
        assert (await create(http, kie, body(max_images=1)))["code"] == 402, "10 are reserved"
        clock.advance(10)
        data = (await record(http, kie, task_id))["data"]
        assert len(json.loads(data["resultJson"])["resultUrls"]) == 1
        assert data["creditsConsumed"] == 5
        _, answer = await call(http, kie, "GET", "/api/v1/chat/credit")
        assert answer == {"code": 200, "msg": "success", "data": 7}


async def test_rate_limits(http: aiohttp.ClientSession) -> None:
    """The 21st createTask in 10 s and the 11th recordInfo in 1 s get 429 and do nothing."""
    async with FakeKie() as kie:
        answers = [await create(http, kie, body()) for _ in range(21)]
        assert [a["code"] for a in answers] == [200] * 20 + [429]
        assert len(kie.tasks) == 20
        task_id = answers[0]["data"]["taskId"]
        codes = [(await record(http, kie, task_id))["code"] for _ in range(11)]
        assert codes == [200] * 10 + [429]
        assert kie.max_in_window(CREATE_TASK, 10.0) == 21
        assert kie.max_in_window(CREATE_TASK, 10.0, accepted_only=True) == 20
        assert len(kie.calls(RECORD_INFO)) == 11


async def test_maintenance_and_feature_switches(http: aiohttp.ClientSession, kie: FakeKie) -> None:
    """Maintenance answers 455 everywhere; feature-disabled answers 505 on createTask."""
    kie.feature_disabled = True
    assert (await create(http, kie, body()))["code"] == 505
    assert (await call(http, kie, "GET", "/api/v1/chat/credit"))[1]["code"] == 200
    kie.maintenance = True
    assert (await create(http, kie, body()))["code"] == 455
    assert (await call(http, kie, "GET", "/api/v1/chat/credit"))[1]["code"] == 455
    assert (await record(http, kie, "x"))["code"] == 455
    assert kie.tasks == {}


async def test_forced_errors_are_used_once_each(http: aiohttp.ClientSession, kie: FakeKie) -> None:
    """Forced errors answer the next N calls, then normal service resumes."""
    kie.force_error(CREATE_TASK, 433, "sub-key limit", times=2)
    kie.force_error(CREATE_TASK, 500, "Server Error")
    codes = [(await create(http, kie, body()))["code"] for _ in range(4)]
    assert codes == [433, 433, 500, 200]
    assert len(kie.tasks) == 1


async def test_hang_creates_then_delays(http: aiohttp.ClientSession) -> None:
    """In hang mode the task exists before the (late) answer."""
    async with FakeKie(hang_create=30) as kie:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await create(http, kie, body())
        assert len(kie.tasks_created()) == 1


async def test_images_are_real_and_distinct(http: aiohttp.ClientSession) -> None:
    """Result URLs serve JPEGs at the guessed size, different per image."""
    clock = ManualClock()
    async with FakeKie(clock=clock) as kie:
        payload = body(image_size="landscape_16_9", image_resolution="2K", max_images=2)
        task_id = (await create(http, kie, payload))["data"]["taskId"]
        clock.advance(60)
        urls = json.loads((await record(http, kie, task_id))["data"]["resultJson"])["resultUrls"]
        blobs = []
        for url in urls:
            async with http.get(url) as resp:
                assert resp.status == 200
                assert resp.content_type == "image/jpeg"
                blobs.append(await resp.read())
        assert blobs[0] != blobs[1]
        for blob in blobs:
            img = Image.open(io.BytesIO(blob))
            assert img.format == "JPEG"
            assert img.size == (2048, 1152)
        async with http.get(kie.base_url + "/p/" + task_id + "_9_1_0000.jpg") as resp:
            assert resp.status == 404


@pytest.mark.parametrize(
    ("size", "res", "expected"),
    [
        ("square", "1K", (1024, 1024)),
        ("landscape_4_3", "4K", (4096, 3072)),
        ("portrait_3_2", "1K", (683, 1024)),
        ("landscape_21_9", "2K", (2048, 878)),
        ("portrait_16_9", "4K", (2304, 4096)),
    ],
)
def test_image_dimensions(size: str, res: str, expected: tuple[int, int]) -> None:
    """Sizes are a guess: long edge by resolution (1K/2K/4K), short edge by ratio."""
    assert image_dimensions(size, res) == expected


@pytest.mark.parametrize("res", ["1K", "4K"])
async def test_large_images(http: aiohttp.ClientSession, res: str) -> None:
    """large_images makes every file at least 4 MiB, still a valid JPEG of the right size."""
    clock = ManualClock()
    async with FakeKie(clock=clock, large_images=True) as kie:
        payload = body(image_size="landscape_21_9", image_resolution=res, max_images=2)
        task_id = (await create(http, kie, payload))["data"]["taskId"]
        clock.advance(60)
        urls = json.loads((await record(http, kie, task_id))["data"]["resultJson"])["resultUrls"]
        for url in urls:
            async with http.get(url) as resp:
                blob = await resp.read()
            assert len(blob) >= LARGE_MIN_BYTES
            img = Image.open(io.BytesIO(blob))
            img.load()
            assert img.size == image_dimensions("landscape_21_9", res)


async def test_download_url(http: aiohttp.ClientSession) -> None:
    """download-url accepts only the stand-in's own file URLs and serves the link."""
    clock = ManualClock()
    async with FakeKie(clock=clock) as kie:
        task_id = (await create(http, kie, body()))["data"]["taskId"]
        clock.advance(60)
        (url,) = json.loads((await record(http, kie, task_id))["data"]["resultJson"])["resultUrls"]
        path = "/api/v1/common/download-url"
        _, answer = await call(http, kie, "POST", path, {"url": url})
        assert answer["code"] == 200
        async with http.get(answer["data"]) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/jpeg"
        for bad in ["https://example.com/p/x.jpg", kie.base_url + "/p/unknown.jpg", "", 5]:
            _, answer = await call(http, kie, "POST", path, {"url": bad})
            assert answer["code"] == 422
        clock.advance(20 * 60 + 1)
        _, answer = await call(http, kie, "POST", path, {"url": url})
        clock.advance(20 * 60 + 1)
        async with http.get(answer["data"]) as resp:
            assert resp.status == 404, "temporary links expire after 20 minutes"


async def test_clear_forced_ends_a_fault(http: aiohttp.ClientSession, kie: FakeKie) -> None:
    """clear_forced: the forced answers not yet given are dropped, and counted."""
    kie.force_error(CREATE_TASK, 429, times=100)
    kie.force_error(RECORD_INFO, 429, times=2)
    assert (await create(http, kie, body()))["code"] == 429
    assert kie.clear_forced(CREATE_TASK) == 99
    assert kie.clear_forced(CREATE_TASK) == 0
    assert (await create(http, kie, body()))["code"] == 200
    assert kie.clear_forced(RECORD_INFO) == 2, "other endpoints keep theirs until cleared"


async def test_expired_files_are_gone_everywhere(http: aiohttp.ClientSession) -> None:
    """expire_files: the file, its download-url links and new ones answer as for no file."""
    clock = ManualClock()
    async with FakeKie(clock=clock) as kie:
        task_id = (await create(http, kie, body(max_images=3)))["data"]["taskId"]
        clock.advance(60)
        data = (await record(http, kie, task_id))["data"]
        urls = json.loads(data["resultJson"])["resultUrls"]
        path = "/api/v1/common/download-url"
        _, link = await call(http, kie, "POST", path, {"url": urls[1]})
        assert kie.expire_files(task_id, [1]) == [urls[1].rsplit("/", 1)[1]]
        assert kie.expire_files(task_id, [1]) == [], "already gone"
        statuses = []
        for url in urls:
            async with http.get(url) as resp:
                statuses.append(resp.status)
        assert statuses == [200, 404, 200]
        async with http.get(link["data"]) as resp:
            assert resp.status == 404, "a link made before the expiry dies with the file"
        _, answer = await call(http, kie, "POST", path, {"url": urls[1]})
        assert answer["code"] == 422
        again = json.loads((await record(http, kie, task_id))["data"]["resultJson"])
        assert again["resultUrls"] == urls, "recordInfo still lists every URL"
        assert len(kie.expire_files(task_id)) == 2
        async with http.get(urls[0]) as resp:
            assert resp.status == 404


class Receiver:
    """A tiny callback endpoint that answers with scripted statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.event = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        """Record the callback and answer with the next scripted status."""
        self.received.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.event.set()
        return web.json_response({"code": 200, "msg": "success"}, status=status)

    async def __aenter__(self) -> Receiver:
        """Start listening on a free local port."""
        app = web.Application()
        app.router.add_post("/cb/{token}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/cb/t0k3n"
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop listening."""
        assert self._runner is not None
        await self._runner.cleanup()


async def test_callback_signed_and_retried(http: aiohttp.ClientSession) -> None:
    """The success callback is POSTed once it ends, signed, and retried on non-2xx."""
    async with (
        Receiver([500, 503]) as receiver,
        FakeKie(hmac_key="test-hmac-key", callback_retries=3, callback_retry_delay=0.01) as kie,
    ):
        payload = {**body(), "callBackUrl": receiver.url}
        task_id = (await create(http, kie, payload))["data"]["taskId"]
        await asyncio.wait_for(receiver.event.wait(), 5)
        assert [a.status for a in kie.callbacks] == [500, 503, 200]
        headers, raw = receiver.received[-1]
        assert headers["Content-Type"] == "application/json"
        sent = json.loads(raw)
        assert sent["code"] == 200
        assert sent["msg"] == "Playground task completed successfully."
        assert sent["data"]["taskId"] == task_id
        assert sent["data"]["state"] == "success"
        assert isinstance(sent["data"]["resultJson"], str)
        assert verify("test-hmac-key", sent, headers, now=time.time())
        assert not verify("other-key", sent, headers, now=time.time())
        assert parse_callback(raw).record.result_urls
        assert sent == (await record(http, kie, task_id)) | {
            "code": 200,
            "msg": "Playground task completed successfully.",
        }


async def test_failure_callback_unsigned(http: aiohttp.ClientSession) -> None:
    """A failed task's callback is code 501 and carries no signature without a key."""
    async with Receiver([]) as receiver, FakeKie(fail_word="nope") as kie:
        payload = {**body(prompt="nope nope"), "callBackUrl": receiver.url}
        await create(http, kie, payload)
        await asyncio.wait_for(receiver.event.wait(), 5)
        await asyncio.sleep(0.1)
        assert len(receiver.received) == 1, "exactly one callback per task"
        headers, raw = receiver.received[0]
        sent = json.loads(raw)
        assert (sent["code"], sent["msg"]) == (501, "Playground task failed.")
        assert sent["data"]["state"] == "fail"
        assert sent["data"]["failCode"] == "422"
        assert "X-Webhook-Signature" not in headers


async def test_no_callback_without_url(http: aiohttp.ClientSession) -> None:
    """Tasks without callBackUrl produce no callback."""
    async with FakeKie(durations=Durations(0, 0, 0.01)) as kie:
        task_id = (await create(http, kie, body()))["data"]["taskId"]
        await asyncio.sleep(0.1)
        assert (await record(http, kie, task_id))["data"]["state"] == "success"
        assert kie.callbacks == []


async def test_runs_as_a_process(http: aiohttp.ClientSession) -> None:
    """python -m imagine_standins.kie prints its URL, answers, and stops on SIGTERM."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagine_standins.kie",
        "--port",
        "0",
        "--api-key",
        "proc-key",
        "--credits",
        "42",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        url = line.decode().strip()
        assert url.startswith("http://127.0.0.1:")
        async with http.get(
            url + "/api/v1/chat/credit", headers={"Authorization": "Bearer proc-key"}
        ) as resp:
            assert await resp.json() == {"code": 200, "msg": "success", "data": 42}
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
