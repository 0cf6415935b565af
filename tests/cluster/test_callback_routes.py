"""kie's callback reaching a process that does not hold the job, through the real route."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.jobs.models import Job, JobState
from bot.jobs.store import JobStore
from bot.kie import CreateTaskRequest
from bot.web import make_app
from tests.cluster.conftest import OpenDb
from tests.cluster.test_leases import Cluster, Process


@pytest.fixture
async def cluster(open_pg: OpenDb) -> AsyncIterator[Cluster]:
    cluster = Cluster(open_pg, callbacks=True)
    yield cluster
    for process in list(cluster.processes):
        await process.engine.shutdown(timeout=1)
        await process.notifier.close()


async def _post_callback(process: Process, job: Job, task_id: str) -> int:
    """POST kie's callback for `task_id` to `process`'s web server; return the status."""
    app = make_app(
        engine=process.engine,
        db=process.db,
        hmac_key=None,
        gateway_up=lambda: True,
        discord_latency=lambda: 0.0,
    )
    data = {"taskId": task_id, "model": "m", "state": "success", "param": "{}"}
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url(f"/kie/callback/{job.callback_token}"))
        async with session.post(url, json={"code": 200, "msg": "ok", "data": data}) as resp:
            return resp.status


async def test_a_callback_at_another_process_delivers_the_running_job_at_once(
    cluster: Cluster,
) -> None:
    cluster.kie.final = "never"
    owner, other = await cluster.start("owner"), await cluster.start("other")
    job = await cluster.admitted()
    await owner.engine.accept(job)
    running = await cluster.wait(job.id, lambda j: j.state is JobState.RUNNING)
    assert running.task_id is not None
    await asyncio.sleep(0.3)  # the owner's next poll is 20 s away (callbacks are on)
    cluster.kie.polls[running.task_id] = 1  # the fake's first read says "generating"
    cluster.kie.final = "success"
    assert await _post_callback(other, running, running.task_id) == 200
    done = await cluster.wait(job.id, timeout=5)
    assert done.state is JobState.DELIVERED
    assert len(owner.delivery.posted) == 1 and other.delivery.posted == []


async def test_a_callback_naming_an_unconfirmed_task_is_stored_before_the_200(
    cluster: Cluster,
) -> None:
    owner, other = await cluster.start("owner"), await cluster.start("other")
    job = await cluster.admitted(state=JobState.SUBMITTING, submitted_at=time.time())
    await owner.engine.accept(job)
    request = CreateTaskRequest(prompt="a red fox", callback_url=owner.engine.callback_url(job))
    cluster.kie.created.append(request)  # kie made the task; its answer never came
    assert await _post_callback(other, job, "task-1") == 200
    stored = await JobStore(other.db).get(job.id)
    assert stored is not None and stored.task_id == "task-1"
    done = await cluster.wait(job.id, timeout=5)
    assert done.state is JobState.DELIVERED
    assert len(owner.delivery.posted) == 1 and len(cluster.kie.created) == 1
    # A second delivery of the same callback (kie retries) changes nothing.
    assert await _post_callback(other, done, "task-1") == 200
    await asyncio.sleep(0.3)
    assert len(owner.delivery.posted) == 1
    assert other.delivery.posted == []
