"""The client's limiter, measured at the stand-in's arrival times under heavy concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.kie import CreateTaskRequest, KieClient, KieLimiter, RateLimit
from imagine_standins.kie import CREATE_TASK, RECORD_INFO, FakeKie

MakeClient = Callable[..., KieClient]
REQ = CreateTaskRequest(prompt="a quiet harbour")


async def test_300_concurrent_creates_stay_under_the_window(make_client: MakeClient) -> None:
    """300 concurrent create_task calls never exceed 20 per window at the server."""
    window = 0.2
    async with FakeKie(create_limit=(20, window), credits=10**6) as kie:
        limiter = KieLimiter(create_limit=RateLimit(20, window, margin=0.01))
        client = make_client(kie, limiter=limiter)
        ids = await asyncio.gather(*(client.create_task(REQ) for _ in range(300)))
        assert len(set(ids)) == 300
        assert len(kie.tasks_created()) == 300
        calls = kie.calls(CREATE_TASK)
        assert len(calls) == 300, "a 429 would have caused a resend"
        assert {c.code for c in calls} == {200}
        assert kie.max_in_window(CREATE_TASK, window) <= 20


async def test_300_concurrent_reads_stay_under_the_window(make_client: MakeClient) -> None:
    """300 concurrent get_task calls never exceed 10 per window at the server."""
    window = 0.1
    async with FakeKie(read_limit=(10, window)) as kie:
        limiter = KieLimiter(read_limit=RateLimit(10, window, margin=0.005))
        client = make_client(kie, limiter=limiter)
        task_id = await client.create_task(REQ)
        records = await asyncio.gather(*(client.get_task(task_id) for _ in range(300)))
        assert {r.task_id for r in records} == {task_id}
        calls = kie.calls(RECORD_INFO)
        assert len(calls) == 300
        assert {c.code for c in calls} == {200}
        assert kie.max_in_window(RECORD_INFO, window) <= 10


async def test_reads_share_one_budget(make_client: MakeClient) -> None:
    """recordInfo, credits and download-url together stay under the read limit."""
    window = 0.1
    async with FakeKie(read_limit=(5, window)) as kie:
        limiter = KieLimiter(read_limit=RateLimit(5, window, margin=0.005))
        client = make_client(kie, limiter=limiter)
        task_id = await client.create_task(REQ)
        await asyncio.gather(
            *(client.get_task(task_id) for _ in range(20)),
            *(client.get_credits() for _ in range(20)),
        )
        reads = sorted(r.at for r in kie.requests if r.endpoint != CREATE_TASK)
        assert len(reads) == 40
        assert {r.code for r in kie.requests} == {200}
        best = start = 0
        for end, t in enumerate(reads):
            while t - reads[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        assert best <= 5


async def test_real_read_limit(make_client: MakeClient) -> None:
    """With kie's real numbers, 25 concurrent reads never exceed 10 in any second."""
    async with FakeKie() as kie:
        client = make_client(kie, limiter=KieLimiter())
        task_id = await client.create_task(REQ)
        await asyncio.gather(*(client.get_task(task_id) for _ in range(25)))
        assert kie.max_in_window(RECORD_INFO, 1.0) <= 10
        assert {c.code for c in kie.calls(RECORD_INFO)} == {200}


async def test_real_create_limit_holds_the_21st(make_client: MakeClient) -> None:
    """With kie's real numbers, 20 creates go out at once and the rest wait their turn."""
    async with FakeKie(credits=10**6) as kie:
        limiter = KieLimiter()
        client = make_client(kie, limiter=limiter)
        calls = [asyncio.create_task(client.create_task(REQ)) for _ in range(25)]
        done, pending = await asyncio.wait(calls, timeout=1.5)
        try:
            assert len(done) == 20
            assert len(pending) == 5
            assert limiter.create.waiting == 5
            assert len(kie.calls(CREATE_TASK)) == 20
            assert {c.code for c in kie.calls(CREATE_TASK)} == {200}
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        assert limiter.create.waiting == 0
