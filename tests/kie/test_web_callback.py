"""The callback route of bot/web.py: token and size before the body, bounded depth, statuses.

The route is driven through aiohttp's test server with a stand-in engine that has only what
the route uses: ``store.by_callback_token`` and ``on_callback``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.kie import MAX_JSON_DEPTH, TaskRecord, TaskState, sign
from bot.web import MAX_CALLBACK_BYTES, make_app

TOKEN = "known-token"
TASK_ID = "558a0e58d58a6cb69e5c6a55170398da"
HMAC_KEY = "test-hmac-key"
NOW = 1_786_413_282


@dataclass
class StandInJob:
    """What the route reads of a job: its log context."""

    ctx: str = "job 1"


@dataclass
class StandInStore:
    """Knows one token and records every lookup."""

    jobs: dict[str, StandInJob]
    lookups: list[str] = field(default_factory=list)

    async def by_callback_token(self, token: str) -> StandInJob | None:
        """Return the job for a token, or None."""
        self.lookups.append(token)
        return self.jobs.get(token)


@dataclass
class StandInEngine:
    """Records the callbacks the route hands over; ``accept`` is what on_callback answers."""

    store: StandInStore
    accept: bool = True
    received: list[tuple[StandInJob, TaskRecord]] = field(default_factory=list)
    queue: list[object] = field(default_factory=list)

    async def on_callback(self, job: StandInJob, record: TaskRecord) -> bool:
        """Record the event and answer as told."""
        self.received.append((job, record))
        return self.accept


class StandInDatabase:
    """Unused by the callback route."""

    async def fetchval(self, query: str) -> int:
        """Answer the health check."""
        return 1


@dataclass
class Rig:
    """A running app, its HTTP client and its stand-in engine."""

    client: TestClient[Any, Any]
    engine: StandInEngine

    async def post(
        self,
        body: bytes | Callable[[], AsyncIterator[bytes]],
        *,
        token: str = TOKEN,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """POST a callback and return the status and JSON answer."""
        data = body if isinstance(body, bytes) else body()
        async with self.client.post(
            f"/kie/callback/{token}", data=data, headers=headers or {}
        ) as response:
            return response.status, await response.json()


def _body(**data: Any) -> bytes:
    """A success callback for TASK_ID, with fields overridden."""
    record = {
        "taskId": TASK_ID,
        "model": "bytedance/seedream-v4-text-to-image",
        "state": "success",
        "param": "{}",
        "resultJson": '{"resultUrls":["https://tempfile.aiquickdraw.com/p/x.jpg"]}',
        "costTime": 21,
        "createTime": 1786413258000,
        "completeTime": 1786413282000,
        "creditsConsumed": 5,
        **data,
    }
    return json.dumps({"code": 200, "msg": "ok", "data": record}).encode()


def _signed(timestamp: int = NOW) -> dict[str, str]:
    """Valid webhook headers for TASK_ID."""
    return {
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": sign(HMAC_KEY, TASK_ID, timestamp),
    }


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig() -> AsyncIterator[MakeRig]:
    """Start the app with a stand-in engine; ``hmac_key`` as given."""
    clients: list[TestClient[Any, Any]] = []

    async def factory(hmac_key: str | None = None) -> Rig:
        engine = StandInEngine(StandInStore({TOKEN: StandInJob()}))
        app = make_app(
            engine=cast(Any, engine),
            db=cast(Any, StandInDatabase()),
            hmac_key=hmac_key,
            gateway_up=lambda: True,
            discord_latency=lambda: 0.1,
            clock=lambda: float(NOW),
        )
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return Rig(client, engine)

    yield factory
    for client in clients:
        await client.close()


async def test_good_callback_reaches_the_engine_with_exact_credits(make_rig: MakeRig) -> None:
    """A good callback gets 200 and the engine receives its record, credits exact."""
    rig = await make_rig()
    body = _body().replace(b'"creditsConsumed": 5', b'"creditsConsumed": 0.8')
    assert await rig.post(body) == (200, {"code": 200, "msg": "success"})
    [(job, record)] = rig.engine.received
    assert job.ctx == "job 1"
    assert record.task_id == TASK_ID
    assert record.state is TaskState.SUCCESS
    assert record.credits_consumed == Decimal("0.8")
    assert type(record.credits_consumed) is Decimal


async def test_unknown_token_is_404_before_the_body_is_read(make_rig: MakeRig) -> None:
    """An unknown token is refused whatever the body: nested, not JSON, oversized, streamed."""
    rig = await make_rig()
    deep = b"[" * 30_000 + b"]" * 30_000  # under the size limit, far over the depth bound

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * MAX_CALLBACK_BYTES

    for body in (deep, b"not json", _body(), stream):
        status, answer = await rig.post(body, token="stranger")
        assert (status, answer["msg"]) == (404, "unknown job")
    assert rig.engine.received == []


async def test_declared_oversize_is_413_without_a_lookup(make_rig: MakeRig) -> None:
    """A Content-Length over the limit is refused before the job is even looked up."""
    rig = await make_rig()
    status, _ = await rig.post(b"x" * (MAX_CALLBACK_BYTES + 1))
    assert status == 413
    assert rig.engine.store.lookups == []


async def test_streamed_oversize_is_413(make_rig: MakeRig) -> None:
    """A chunked body (no Content-Length) that outgrows the limit is cut off with 413."""
    rig = await make_rig()

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * (MAX_CALLBACK_BYTES // 2)

    status, _ = await rig.post(stream)
    assert status == 413
    assert rig.engine.received == []


async def test_body_at_the_limit_is_read(make_rig: MakeRig) -> None:
    """A body of exactly MAX_CALLBACK_BYTES is accepted (padding with JSON whitespace)."""
    rig = await make_rig()
    body = _body()
    body += b" " * (MAX_CALLBACK_BYTES - len(body))
    assert (await rig.post(body))[0] == 200


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 1_000_000])
async def test_deep_nesting_is_400_never_500(make_rig: MakeRig, depth: int) -> None:
    """A deeply nested body is refused by the depth bound with 400, never a RecursionError."""
    rig = await make_rig()
    lists = min(depth, (MAX_CALLBACK_BYTES - 64) // 2)  # stay under the size limit
    objects = min(depth, (MAX_CALLBACK_BYTES - 64) // 6)
    for body in (
        b"[" * lists + b"]" * lists,
        b'{"code":200,"data":' + b'{"a":' * objects + b"1" + b"}" * objects + b"}",
    ):
        status, answer = await rig.post(body)
        assert status == 400
        assert answer["msg"] == "body is nested too deeply"
    assert rig.engine.received == []


async def test_nesting_within_the_bound_is_read(make_rig: MakeRig) -> None:
    """A body nested to just the limit is parsed normally (then judged on its shape)."""
    rig = await make_rig()
    body = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert await rig.post(body) == (400, {"code": 400, "msg": "body is not an object"})


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        (b"", "body is not JSON"),
        (b"not json", "body is not JSON"),
        (b'{"code":200,', "body is not JSON"),
        (b'{"code": 200, "data": "\xff\xfe"}', "body is not JSON"),
        (b"[1, 2]", "body is not an object"),
        (b'"text"', "body is not an object"),
        (b"null", "body is not an object"),
    ],
)
async def test_not_json_or_not_an_object_is_400(make_rig: MakeRig, body: bytes, msg: str) -> None:
    """Bodies that are not a JSON object get 400 with a reason."""
    rig = await make_rig()
    assert await rig.post(body) == (400, {"code": 400, "msg": msg})
    assert rig.engine.received == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":200,"msg":"ok"}',
        b'{"code":200,"msg":"ok","data":{"state":"success"}}',
        b'{"code":200,"msg":"ok","data":{"taskId":"t","state":"exploded"}}',
    ],
)
async def test_unreadable_callback_is_400(make_rig: MakeRig, body: bytes) -> None:
    """A JSON object that is no callback gets 400 and never reaches the engine."""
    rig = await make_rig()
    status, answer = await rig.post(body)
    assert status == 400
    assert answer["msg"].startswith("unreadable callback")
    assert rig.engine.received == []


async def test_nonsense_numbers_do_not_fail_the_callback(make_rig: MakeRig) -> None:
    """NaN, 1e400 and negative times on a good callback are read as absent, not refused."""
    rig = await make_rig()
    body = (
        _body()
        .replace(b'"costTime": 21', b'"costTime": 1e400')
        .replace(b'"createTime": 1786413258000', b'"createTime": NaN')
        .replace(b'"completeTime": 1786413282000', b'"completeTime": -1')
    )
    assert (await rig.post(body))[0] == 200
    [(_, record)] = rig.engine.received
    assert (record.cost_time, record.create_time, record.complete_time) == (None, None, None)


async def test_task_id_mismatch_is_400(make_rig: MakeRig) -> None:
    """When the engine says the task is not this job's, the answer is 400."""
    rig = await make_rig()
    rig.engine.accept = False
    status, answer = await rig.post(_body())
    assert (status, answer["msg"]) == (400, "task id does not match this job")


async def test_signature_is_checked_when_a_key_is_set(make_rig: MakeRig) -> None:
    """With an HMAC key: a good signature passes; missing, forged or stale ones get 401."""
    rig = await make_rig(hmac_key=HMAC_KEY)
    forged = {**_signed(), "X-Webhook-Signature": sign("wrong", TASK_ID, NOW)}
    for headers in ({}, forged, _signed(NOW - 3600)):
        status, answer = await rig.post(_body(), headers=headers)
        assert (status, answer["msg"]) == (401, "bad signature")
    assert rig.engine.received == []
    assert (await rig.post(_body(), headers=_signed()))[0] == 200
    assert len(rig.engine.received) == 1


async def test_signature_is_checked_after_the_token(make_rig: MakeRig) -> None:
    """An unknown token is 404 even with a bad signature (the job is looked up first)."""
    rig = await make_rig(hmac_key=HMAC_KEY)
    status, _ = await rig.post(_body(), token="stranger", headers={})
    assert status == 404
