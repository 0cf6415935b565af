"""Discord's global limit, 50 requests per second per bot, held by all its processes together.

discord.py sends its REST requests through one aiohttp session and takes an aiohttp
`TraceConfig` for it (its documented `http_trace` option). aiohttp awaits the trace's
request-start signal before each request leaves, retries included, so waiting there for the
shared limiter (bot/cluster/limiter.py, in PostgreSQL when several processes share it) holds
the limit without touching discord.py's own per-route buckets.

Only requests with the bot token count: Discord exempts interaction callbacks and webhook
calls (their token is in the path, no Authorization header) from the global limit, and the
gateway connection and attachment downloads are not bot REST calls either.
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp

from bot.cluster.limiter import Limiter

__all__ = ["BUCKET", "discord_rate_trace"]

# The shared limiter's bucket for Discord's global limit (bot/cluster/limiter.py's BUCKETS).
BUCKET = "discord"


def discord_rate_trace(limiter: Limiter) -> aiohttp.TraceConfig:
    """Return a TraceConfig that makes each bot-token request wait for room in `limiter`."""

    async def on_request_start(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        if params.headers.get("Authorization", "").startswith("Bot "):
            await limiter.acquire(BUCKET)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace
