"""The bot's web server: kie's callbacks, a health check and Prometheus metrics.

A callback is checked here (token, size, signature, shape) before the engine sees it: the
engine receives only a verified event for a job it knows. With several processes the job may
be another's: the engine then stores what the callback says before this answers 200 and tells
the owner at once (bot/jobs/engine.py, `on_callback`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.jobs.engine import JobEngine
from bot.jobs.models import JobState
from bot.kie import JsonTooDeep, KieError, decode_json, parse_callback
from bot.kie import signature as kie_signature
from bot.metrics import DISCORD_LATENCY, JOBS_BY_STATE, QUEUE_LENGTH
from bot.store.database import Database

__all__ = ["MAX_CALLBACK_BYTES", "make_app"]

log = logging.getLogger(__name__)

# A kie callback is a few KiB (param echoes the prompt, ≤ 5000 chars, escaped twice).
MAX_CALLBACK_BYTES = 64 * 1024


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"code": status, "msg": reason}, status=status)


def make_app(
    *,
    engine: JobEngine,
    db: Database,
    hmac_key: str | None,
    gateway_up: Callable[[], bool],
    discord_latency: Callable[[], float],
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """Build the aiohttp application: `POST /kie/callback/{job_token}`, `/healthz`, `/metrics`."""
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES)

    async def callback(request: web.Request) -> web.Response:
        # Cheap checks first, the body last: a stranger's request costs one indexed lookup
        # and is never read; only a known job's body is read, bounded, and parsed.
        if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
            return _refuse(413, "body too large")
        job = await engine.store.by_callback_token(request.match_info["job_token"])
        if job is None:
            return _refuse(404, "unknown job")
        try:
            # client_max_size stops a chunked body that outgrows the limit while it is read.
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "body too large")
        except (HttpProcessingError, ConnectionError) as exc:
            log.warning("%s: callback body could not be read: %r", job.ctx, exc)
            return _refuse(400, "body is unreadable")
        try:
            # Depth-checked before json.loads, so a deeply nested body is a 400, never a
            # RecursionError; numbers come out as exact Decimals (docs/kie-api.md §6).
            payload = decode_json(raw)
        except JsonTooDeep:
            return _refuse(400, "body is nested too deeply")
        except ValueError:
            return _refuse(400, "body is not JSON")
        if not isinstance(payload, dict):
            return _refuse(400, "body is not an object")
        if hmac_key is not None and not kie_signature.verify(
            hmac_key, payload, request.headers, now=clock()
        ):
            log.warning("%s: callback with a bad or missing signature refused", job.ctx)
            return _refuse(401, "bad signature")
        try:
            record = parse_callback(payload).record
        except KieError as exc:
            return _refuse(400, f"unreadable callback: {exc}")
        if not await engine.on_callback(job, record):
            return _refuse(400, "task id does not match this job")
        return web.json_response({"code": 200, "msg": "success"})

    async def healthz(request: web.Request) -> web.Response:
        database = await _answers(db.fetchval, "health check")
        body = {"gateway": gateway_up(), "database": database}
        return web.json_response(body, status=200 if all(body.values()) else 503)

    async def metrics(request: web.Request) -> web.Response:
        # Gauges of the present are read now, from the source of truth.
        try:
            rows = await db.fetch("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        except Exception as exc:  # noqa: BLE001 - metrics must answer even if the DB doesn't
            log.warning("metrics: database does not answer: %r", exc)
        else:
            counts = {r["state"]: int(r["n"]) for r in rows}
            for state in JobState:
                JOBS_BY_STATE.labels(state=state.value).set(counts.get(state.value, 0))
        QUEUE_LENGTH.set(len(engine.line))
        latency = discord_latency()
        DISCORD_LATENCY.set(latency if math.isfinite(latency) else math.nan)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post("/kie/callback/{job_token}", callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def _answers(fetchval: Callable[[str], Awaitable[Any]], what: str) -> bool:
    """Return whether the database answers a trivial query."""
    try:
        await fetchval("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any driver error means not healthy
        log.warning("%s: database does not answer: %r", what, exc)
        return False
    return True
