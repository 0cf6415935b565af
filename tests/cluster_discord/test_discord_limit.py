"""Discord's 50 requests per second per bot, held by several processes together."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
import yarl
from discord.http import HTTPClient, Route
from multidict import CIMultiDict

from bot.cluster.limiter import SharedLimiter
from bot.discord_limit import BUCKET, discord_rate_trace
from imagine_standins.discord.server import FakeDiscord
from tests.cluster.conftest import OpenDb

PROCESSES = 3
EACH = 40
# Discord's global limit: requests per second per bot token.
GLOBAL_LIMIT = 50


def busiest_second(times: list[float]) -> int:
    """Return the most requests that arrived within any one second."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


async def test_three_processes_never_exceed_50_in_any_second(
    fake_discord: FakeDiscord, open_pg: OpenDb
) -> None:
    """Three discord.py HTTP clients, each with its own pool and limiter on one schema (three
    processes), send 120 bot requests at once: the stand-in never sees more than 50 arrive
    within any second, and none is refused."""
    fake = fake_discord
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(PROCESSES):
        limiter = SharedLimiter(await open_pg())
        http = HTTPClient(loop, http_trace=discord_rate_trace(limiter))
        await http.static_login(fake.token)
        clients.append(http)
    channels = list(fake.world.channels)
    try:

        async def burst(http: HTTPClient) -> None:
            routes = [
                Route("GET", "/channels/{channel_id}", channel_id=channels[i % len(channels)])
                if i % 2
                else Route("GET", "/users/@me")
                for i in range(EACH)
            ]
            await asyncio.gather(*(http.request(route) for route in routes))

        await asyncio.gather(*(burst(http) for http in clients))
    finally:
        for http in clients:
            await http.close()
    sent = [r for r in fake.requests if r.headers.get("Authorization") == f"Bot {fake.token}"]
    assert len(sent) == PROCESSES * EACH + PROCESSES  # and each client's login
    assert fake.served_429s == 0
    assert busiest_second([r.time for r in sent]) <= GLOBAL_LIMIT


async def test_only_bot_token_requests_wait_for_the_limit() -> None:
    """Interaction callbacks and webhooks (no Authorization) and the gateway don't count."""
    taken: list[str] = []

    class Counting:
        async def acquire(self, bucket: str, n: int = 1) -> None:
            taken.append(bucket)

    trace = discord_rate_trace(Counting())  # type: ignore[arg-type]
    (on_start,) = trace.on_request_start
    url = yarl.URL("https://discord.com/api/v10/x")

    async def start(headers: dict[str, str]) -> None:
        params = aiohttp.TraceRequestStartParams("POST", url, CIMultiDict(headers))
        await on_start(None, SimpleNamespace(), params)  # type: ignore[arg-type]

    await start({})
    await start({"Authorization": "Bearer user-oauth"})
    assert taken == []
    await start({"Authorization": "Bot abc"})
    assert taken == [BUCKET]
