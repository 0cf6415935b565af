"""Benchmark the cost of holding Discord's 50 requests per second across processes.

Every bot-token request waits in aiohttp's request-start trace for the shared limiter
(bot/discord_limit.py). Against a local aiohttp server that answers at once:

1. Added cost per request: the same sequential requests with no trace, with the trace on the
   in-process limiter (SQLite) and on the PostgreSQL limiter, the limit raised out of reach so
   nothing waits for room; then 50 at a time. Printed: µs per request, the difference to no
   trace, and database grants (transactions) per request.
2. At Discord's limit: 3 "processes" (a pool and a limiter each) send their requests at once.
   Printed: the rate the server saw, the most requests in any one second (Discord: 50), and
   grants per request.

    python -m bench.discord_limit_bench [--requests 1000] [--each 100] [--postgres URL]

Needs the PostgreSQL of TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test);
each run uses a schema of its own, dropped at the end. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg
from aiohttp import web

from bot.cluster.limiter import DISCORD_LIMIT, Limiter, LocalLimiter, SharedLimiter
from bot.discord_limit import BUCKET, discord_rate_trace
from bot.kie.limiter import RateLimit
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations

BOT_AUTH = {"Authorization": "Bot bench-token"}
# Out of reach: measures the hook and the grants, never a wait for room.
UNLIMITED = {BUCKET: RateLimit(max_calls=1_000_000, window=1.0, margin=0.0)}


async def serve(arrivals: list[float]) -> tuple[web.AppRunner, str]:
    """Start a server that answers `{}` and notes when each request arrived."""

    async def answer(_request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/api", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/api"


async def timed(url: str, limiter: Limiter | None, count: int, at_once: int) -> float:
    """Send `count` bot requests, `at_once` at a time; return µs per request."""
    traces = [] if limiter is None else [discord_rate_trace(limiter)]
    session = aiohttp.ClientSession(trace_configs=traces)

    async def one() -> None:
        async with session.get(url, headers=BOT_AUTH) as resp:
            await resp.read()

    await one()  # connection made outside the measurement
    started = time.perf_counter()
    for _ in range(count // at_once):
        await asyncio.gather(*(one() for _ in range(at_once)))
    elapsed = time.perf_counter() - started
    await session.close()
    return elapsed / count * 1e6


async def added_cost(url: str, db: Database, count: int) -> None:
    print(f"1. added cost per request ({count} requests, limit out of reach)")
    print(f"   {'limiter':<24} {'at once':>7} {'µs/request':>11} {'added':>8} {'grants/req':>10}")
    for at_once in (1, 50):
        await timed(url, None, count, at_once)  # warm-up: the first pass runs colder
        base = None
        variants: list[tuple[str, Callable[[], Limiter | None]]] = [
            ("none", lambda: None),
            ("in-process (SQLite)", lambda: LocalLimiter(UNLIMITED)),
            ("PostgreSQL (shared)", lambda: SharedLimiter(db, UNLIMITED)),
        ]
        for name, make in variants:
            limiter = make()
            micros = await timed(url, limiter, count, at_once)
            base = micros if base is None else base
            grants = getattr(limiter, "grants", None)
            per = f"{grants / count:.3f}" if grants is not None else "-"
            print(f"   {name:<24} {at_once:>7} {micros:>11.0f} {micros - base:>+8.0f} {per:>10}")


async def at_the_limit(url: str, arrivals: list[float], dbs: list[Database], each: int) -> None:
    print(f"2. at Discord's limit: {len(dbs)} processes x {each} requests at once")
    arrivals.clear()
    limiters = [SharedLimiter(db) for db in dbs]
    started = time.monotonic()
    await asyncio.gather(*(timed(url, lim, each, each) for lim in limiters))
    # Each timed() sends one warm-up request before its burst; they count too.
    took = time.monotonic() - started
    times = sorted(arrivals)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    grants = sum(lim.grants for lim in limiters)
    print(
        f"   {len(times)} requests in {took:.1f} s: {len(times) / took:.1f}/s; most in any "
        f"1 s: {most} (limit {DISCORD_LIMIT.max_calls}); grants/request {grants / len(times):.3f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--each", type=int, default=100)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    schema = "bench_discord_" + secrets.token_hex(4)
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f"CREATE SCHEMA {schema}")
    arrivals: list[float] = []
    runner, url = await serve(arrivals)
    dbs: list[Database] = []
    try:

        async def pool() -> Database:
            db = await open_database(args.postgres, server_settings={"search_path": schema})
            dbs.append(db)
            return db

        first = await pool()
        await apply_migrations(first, now=time.time())
        await added_cost(url, first, args.requests)
        await at_the_limit(url, arrivals, [first, await pool(), await pool()], args.each)
    finally:
        closing: list[Awaitable[None]] = [db.close() for db in dbs]
        await asyncio.gather(*closing)
        await runner.cleanup()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
