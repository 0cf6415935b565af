"""The bot's web server: /healthz follows the gateway and the database; /metrics moves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.jobs.models import JobState
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord
from imagine_standins.kie import FakeKie
from tests.e2e.stack import Stack, start_stack, stop_stack, wait_until


@pytest.fixture
async def served(
    fake_discord: FakeDiscord, kie: FakeKie, sqlite_db: Database
) -> AsyncIterator[Stack]:
    """A bot with its web server listening."""
    stack = await start_stack(fake_discord, kie, sqlite_db, callbacks=True)
    yield stack
    await stop_stack(stack)


async def _get(stack: Stack, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(stack.web_url + path) as r:
        return r.status, await r.text()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_healthz_flips_with_the_gateway(served: Stack, no_error_logs: list[str]) -> None:
    """200 while connected; 503 with gateway false while Discord's gateway is gone; 200 again."""
    # discord.py logs each failed reconnect at ERROR; here that is the point of the test.
    no_error_logs.append("Attempting a reconnect")
    status, body = await _get(served, "/healthz")
    assert status == 200 and '"gateway": true' in body and '"database": true' in body
    gateway = served.discord.gateway
    gateway.refuse_connections = True
    await gateway.close()

    async def down() -> bool:
        status, body = await _get(served, "/healthz")
        return status == 503 and '"gateway": false' in body

    await wait_until(down, timeout=10)
    gateway.refuse_connections = False
    served.discord.identified.clear()

    async def up() -> bool:
        return (await _get(served, "/healthz"))[0] == 200

    await wait_until(up, timeout=30)


async def test_healthz_flips_with_the_database(served: Stack) -> None:
    """When the database stops answering, /healthz says so with 503."""
    assert (await _get(served, "/healthz"))[0] == 200
    await served.db.close()
    status, body = await _get(served, "/healthz")
    assert status == 503
    assert '"database": false' in body and '"gateway": true' in body


async def test_metrics_parse_and_move_after_a_job(served: Stack) -> None:
    """/metrics is valid Prometheus text, and a delivered job moves its counters."""
    before = _samples((await _get(served, "/metrics"))[1])
    interaction = await served.imagine()
    job = await served.wait_job((await served.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED
    status, text = await _get(served, "/metrics")
    assert status == 200
    after = _samples(text)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("imagine_job_transitions_total", state="delivered") == 1
    assert moved("imagine_kie_requests_total", endpoint="/api/v1/jobs/createTask", code="200") == 1
    assert moved("imagine_kie_millicredits_consumed_total") == 5000  # 5 credits
    assert moved("imagine_delivery_bytes_total") > 0
    assert after[("imagine_jobs", (("state", "delivered"),))] == 1
    assert ("imagine_event_loop_lag_seconds", ()) in after
    assert ("imagine_discord_latency_seconds", ()) in after
    assert after[("imagine_queue_length", ())] == 0
