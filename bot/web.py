"""The bot's web server: kie's callbacks, a health check and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.jobs.models import JobState
from bot.metrics import DISCORD_LATENCY, JOBS_BY_STATE, QUEUE_LENGTH

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["MAX_CALLBACK_BYTES", "make_app"]

log = logging.getLogger(__name__)

# A kie callback is a few KiB (param echoes the prompt, ≤ 5000 chars, escaped twice).
MAX_CALLBACK_BYTES = 64 * 1024


def make_app(bot: ImagineBot, *, db_ping: Callable[[], Awaitable[object]]) -> web.Application:
    """Build the aiohttp application serving SPEC's routes."""
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES)

    async def callback(request: web.Request) -> web.Response:
        token = request.match_info["job_token"]
        if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
            return web.json_response({"code": 413, "msg": "body too large"}, status=413)
        try:
            payload = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"code": 413, "msg": "body too large"}, status=413)
        except ValueError:
            return web.json_response({"code": 400, "msg": "body is not JSON"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"code": 400, "msg": "body is not an object"}, status=400)
        engine = bot.engine
        if engine is None:
            return web.json_response({"code": 503, "msg": "starting"}, status=503)
        status, reason = await engine.handle_callback(token, payload, request.headers)
        if status != 200:
            return web.json_response({"code": status, "msg": reason}, status=status)
        return web.json_response({"code": 200, "msg": "success"})

    async def healthz(request: web.Request) -> web.Response:
        gateway = bot.is_ready() and not bot.is_closed() and bot.ws is not None and bot.ws.open
        try:
            await db_ping()
            database = True
        except Exception as exc:  # noqa: BLE001 - any driver error means not healthy
            log.warning("health check: database does not answer: %r", exc)
            database = False
        body = {"gateway": gateway, "database": database}
        return web.json_response(body, status=200 if gateway and database else 503)

    async def metrics(request: web.Request) -> web.Response:
        # Gauges of the present are read now, from the source of truth.
        try:
            rows = await bot.db.fetch("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        except Exception as exc:  # noqa: BLE001 - metrics must answer even if the DB doesn't
            log.warning("metrics: database does not answer: %r", exc)
        else:
            counts = {r["state"]: int(r["n"]) for r in rows}
            for state in JobState:
                JOBS_BY_STATE.labels(state=state.value).set(counts.get(state.value, 0))
        QUEUE_LENGTH.set(len(bot.engine.queue) if bot.engine else 0)
        latency = bot.latency
        DISCORD_LATENCY.set(latency if math.isfinite(latency) else math.nan)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post("/kie/callback/{job_token}", callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
