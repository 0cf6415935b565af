"""kie's callbacks: they wake the job at once; forged, unknown or oversized ones are refused."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.jobs.models import JobState
from bot.kie import sign
from bot.store.database import Database
from bot.web import MAX_CALLBACK_BYTES
from imagine_standins.discord import FakeDiscord
from imagine_standins.kie import Durations, FakeKie
from tests.e2e.stack import KIE_KEY, Stack, start_stack, stop_stack

HMAC_KEY = "callback-hmac-key-42"


@pytest.fixture
async def signed(fake_discord: FakeDiscord, sqlite_db: Database) -> AsyncIterator[Stack]:
    """A bot with PUBLIC_BASE_URL and KIE_WEBHOOK_HMAC_KEY; kie signs its callbacks."""
    async with FakeKie(
        api_key=KIE_KEY, hmac_key=HMAC_KEY, durations=Durations(0.1, 0.1, 1.5)
    ) as kie:
        stack = await start_stack(fake_discord, kie, sqlite_db, callbacks=True, hmac_key=HMAC_KEY)
        yield stack
        await stop_stack(stack)


async def test_signed_callback_wakes_the_job(signed: Stack) -> None:
    """A signed callback gets 200 and the job is delivered without waiting for a poll."""
    interaction = await signed.imagine()
    job = await signed.wait_job((await signed.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    [attempt] = signed.kie.callbacks
    assert attempt.status == 200
    assert attempt.url == f"{signed.web_url}/kie/callback/{job.callback_token}"
    # With callbacks, polling is a 20 s safety net: the only recordInfo is the confirmation.
    assert len(signed.kie.calls("recordInfo")) == 1


async def _post(stack: Stack, token: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.web_url}/kie/callback/{token}", data=body, headers=headers
        ) as response,
    ):
        return response.status


async def test_forged_unknown_and_oversized_callbacks_are_refused(signed: Stack) -> None:
    """A bad signature → 401, an unknown token → 404, a huge body → 413; none polls kie."""
    signed.kie.durations = Durations(0.1, 0.1, 30.0)
    interaction = await signed.imagine()
    job = await signed.wait_job(
        (await signed.job_for(interaction)).id, lambda j: j.task_id is not None
    )
    polls_before = len(signed.kie.calls("recordInfo"))
    data = {"taskId": job.task_id, "model": "m", "state": "success", "param": "{}"}
    body = json.dumps({"code": 200, "msg": "ok", "data": data}).encode()
    now = str(int(time.time()))
    forged = {
        "X-Webhook-Timestamp": now,
        "X-Webhook-Signature": sign("wrong-key", job.task_id, now),
    }
    assert await _post(signed, job.callback_token, body, forged) == 401
    assert await _post(signed, job.callback_token, body, {}) == 401
    good = {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign(HMAC_KEY, job.task_id, now)}
    assert await _post(signed, "not-a-job-token", body, good) == 404
    assert await _post(signed, job.callback_token, b"x" * (MAX_CALLBACK_BYTES + 1), good) == 413
    stale = str(int(time.time()) - 3600)
    replay = {
        "X-Webhook-Timestamp": stale,
        "X-Webhook-Signature": sign(HMAC_KEY, job.task_id, stale),
    }
    assert await _post(signed, job.callback_token, body, replay) == 401
    assert len(signed.kie.calls("recordInfo")) == polls_before
    current = await signed.store.get(job.id)
    assert current is not None and current.state is JobState.RUNNING
