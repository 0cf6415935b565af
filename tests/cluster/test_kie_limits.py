"""kie's limits hold for all processes together: three engines, one kie account, a burst.

Each engine is a process's: its own pool, its own kie client and its own limiter, shared
through the database (bot/runtime.py's `cluster_for`). Thirty jobs at once, ten held by each,
are more createTask calls than kie takes in ten seconds and more recordInfo calls than it
takes in a second: the kie stand-in, which counts arrivals the way kie does, must never have
had to refuse one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.cluster.build import cluster_for
from bot.cluster.notify import PostgresNotifier
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.leases import Leases
from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.kie import KieClient
from imagine_standins.kie import CREATE_TASK, RECORD_INFO, Durations, FakeKie
from tests.cluster.conftest import OpenDb
from tests.cluster.test_leases import Cluster
from tests.conftest import POSTGRES_URL
from tests.images.pictures import as_download, noise_jpeg
from tests.jobs.test_engine import RESULT_URL, FakeDelivery, FakeLedger

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

KEY = "kie-test-key-0123456789"
JOBS_EACH = 10


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie(api_key=KEY, durations=Durations(0.2, 0.2, 1.0)) as fake:
        yield fake


async def test_three_processes_never_exceed_kies_limits_together(
    open_pg: OpenDb, kie: FakeKie
) -> None:
    image = as_download(noise_jpeg(64, 64, seed=1), RESULT_URL)

    async def download(urls: Any) -> list[Any]:
        return [image for _ in urls]

    engines: list[JobEngine] = []
    notifiers: list[PostgresNotifier] = []
    async with aiohttp.ClientSession() as session:
        try:
            for n in range(3):
                db = await open_pg()
                notifier, _limiter, kie_limiter = cluster_for(db, POSTGRES_URL)
                assert isinstance(notifier, PostgresNotifier)
                await notifier.start()
                notifiers.append(notifier)
                client = KieClient(session, base_url=kie.base_url, api_key=KEY, limiter=kie_limiter)
                engine = JobEngine(
                    store=JobStore(db, leases=Leases(f"process-{n}", seconds=30)),
                    kie=client,
                    delivery=FakeDelivery(),
                    download=download,
                    quota=FakeLedger(),
                    notifier=notifier,
                    # Many members at once, each with one job: nothing waits on a member.
                    config=EngineConfig(default_expected={"1K": 1.5}, submit_workers=8),
                )
                await engine.start()
                engines.append(engine)
            cluster = Cluster(open_pg)
            jobs = []
            for n, engine in enumerate(engines):
                for m in range(JOBS_EACH):
                    job = await cluster.admitted(user_id=n * 100 + m)
                    jobs.append(job)
                    await engine.accept(job)
            for job in jobs:
                done = await cluster.wait(job.id, timeout=60)
                assert done.state is JobState.DELIVERED, done.fail_message
        finally:
            for engine in engines:
                await engine.shutdown(timeout=1)
            for notifier in notifiers:
                await notifier.close()
    creates = kie.calls(CREATE_TASK)
    assert len(creates) == len(jobs)  # one each, none refused
    assert [r for r in kie.requests if r.code == 429] == []
    # The burst filled a window to the limit, never past it: the processes took turns.
    assert kie.max_in_window(CREATE_TASK, 10.0) == 20
    assert kie.max_in_window(RECORD_INFO, 1.0) <= 10
    assert len(kie.calls(RECORD_INFO)) > 10
