"""Fault injection in the kie stand-in, and the stamp that makes every result file traceable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from imagine_standins.kie import (
    CREATE_TASK,
    FILE,
    RECORD_INFO,
    CallbackAttempt,
    Durations,
    FakeKie,
    ManualClock,
    RecordedRequest,
    read_stamp,
)
from tests.standins.kie.test_server import AUTH, Receiver, body


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Open a plain HTTP session."""
    async with aiohttp.ClientSession() as s:
        yield s


async def create(http: aiohttp.ClientSession, kie: FakeKie, payload: Any) -> dict[str, Any]:
    """POST createTask and return the JSON body."""
    url = kie.base_url + "/api/v1/jobs/createTask"
    async with http.post(url, json=payload, headers=AUTH) as resp:
        return dict(await resp.json())


async def result_urls(http: aiohttp.ClientSession, kie: FakeKie, task_id: str) -> list[str]:
    """GET recordInfo of a finished task and return its result URLs."""
    url = kie.base_url + "/api/v1/jobs/recordInfo"
    async with http.get(url, params={"taskId": task_id}, headers=AUTH) as resp:
        data = (await resp.json())["data"]
    return list(json.loads(data["resultJson"])["resultUrls"])


async def test_before_create_answer_the_task_exists_and_the_answer_waits(
    http: aiohttp.ClientSession,
) -> None:
    """'before' on createTask: the task is made (and will be charged); the answer is held."""
    release, running = asyncio.Event(), asyncio.Event()
    seen: list[tuple[str | None, int]] = []
    async with FakeKie(clock=ManualClock()) as kie:

        async def action(rec: RecordedRequest) -> None:
            seen.append((rec.task_id, len(kie.tasks)))
            running.set()
            await release.wait()

        hook = kie.on_request(CREATE_TASK, when="before", action=action)
        sending = asyncio.ensure_future(create(http, kie, body()))
        await asyncio.wait_for(running.wait(), 5)
        [task] = kie.tasks_created()
        assert seen == [(task.task_id, 1)]
        await asyncio.sleep(0.05)
        assert not sending.done()
        release.set()
        answer = await sending
        assert answer["data"]["taskId"] == task.task_id
        assert (await hook.wait()).code == 200
        await create(http, kie, body())
        assert len(hook.fired) == 1, "times=1 by default"


async def test_after_answer_and_predicates_on_the_task(http: aiohttp.ClientSession) -> None:
    """'after': the client holds the answer while the action runs; predicates see task_id."""
    clock = ManualClock()
    release = asyncio.Event()
    async with FakeKie(clock=clock, durations=Durations(1, 1, 1)) as kie:
        task_id = (await create(http, kie, body(max_images=2)))["data"]["taskId"]

        def generating(rec: RecordedRequest) -> bool:
            return rec.endpoint == RECORD_INFO and kie.task(rec.task_id or "").state(clock()) == (
                "generating"
            )

        async def hold(rec: RecordedRequest) -> None:
            await release.wait()

        polled = kie.on_request(generating, when="after", action=hold, times=None)
        url = kie.base_url + "/api/v1/jobs/recordInfo"
        async with http.get(url, params={"taskId": task_id}, headers=AUTH) as resp:
            assert (await resp.json())["data"]["state"] == "waiting"
        assert polled.fired == []
        clock.advance(2.5)
        async with http.get(url, params={"taskId": task_id}, headers=AUTH) as resp:
            assert (await resp.json())["data"]["state"] == "generating"
        assert len(polled.fired) == 1 and not polled.done.is_set()
        release.set()
        await polled.wait()

        files: list[str] = []
        kie.on_request(FILE, action=lambda rec: files.append(rec.task_id or ""), times=None)
        clock.advance(10)
        for url in await result_urls(http, kie, task_id):
            async with http.get(url) as resp:
                assert resp.status == 200
        assert files == [task_id, task_id]


async def test_callback_hooks_before_and_after_the_post(http: aiohttp.ClientSession) -> None:
    """on_callback 'before' runs before the POST reaches the receiver; 'after' sees its status."""
    events: list[str] = []
    async with (
        Receiver([]) as receiver,
        FakeKie(durations=Durations(0, 0, 0.05)) as kie,
    ):

        def before(attempt: CallbackAttempt) -> None:
            events.append(f"before: received {len(receiver.received)}")

        def after(attempt: CallbackAttempt) -> None:
            events.append(f"after: {attempt.status}, received {len(receiver.received)}")

        kie.on_callback(when="before", action=before)
        done = kie.on_callback(when="after", action=after)
        await create(http, kie, {**body(), "callBackUrl": receiver.url})
        await done.wait(timeout=5)
        assert events == ["before: received 0", "after: 200, received 1"]


async def test_results_carry_a_stamp_of_their_task_and_index(
    http: aiohttp.ClientSession,
) -> None:
    """Two tasks of one shape serve different bytes; each file names its task and index."""
    clock = ManualClock()
    async with FakeKie(clock=clock) as kie:
        ids = [(await create(http, kie, body(max_images=2)))["data"]["taskId"] for _ in range(2)]
        clock.advance(60)
        blobs = {}
        for task_id in ids:
            for url in await result_urls(http, kie, task_id):
                async with http.get(url) as resp:
                    blob = await resp.read()
                blobs[read_stamp(blob)] = blob
        assert set(blobs) == {(t, i) for t in ids for i in (0, 1)}
        assert len(set(blobs.values())) == 4
        assert read_stamp(b"\xff\xd8\xff\xdb\x00\x04ab") is None
        assert read_stamp(b"not a jpeg") is None
