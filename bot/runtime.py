"""Run the bot: open the shared resources, start the web server, stop cleanly on signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

import aiohttp
import discord
from aiohttp import web

from bot import metrics
from bot.imagine_bot import ImagineBot
from bot.kie import DEFAULT_USER_AGENT, KieClient, KieLimiter
from bot.settings import Settings
from bot.store.database import open_database
from bot.store.migrate import apply_migrations
from bot.web import make_app

__all__ = ["make_kie_client", "run_bot"]

log = logging.getLogger(__name__)


def make_kie_client(
    session: aiohttp.ClientSession, settings: Settings, *, limiter: KieLimiter | None = None
) -> KieClient:
    """Return the process's kie client: one limiter for every caller, answers counted."""
    assert settings.kie_api_key is not None
    return KieClient(
        session,
        base_url=settings.kie_api_base_url,
        api_key=settings.kie_api_key.reveal(),
        limiter=limiter or KieLimiter(),
        observe=metrics.observe_kie,
    )


async def run_bot(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; return the process exit code."""
    assert settings.discord_token is not None and settings.kie_api_key is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    db = await open_database(settings.database_url)
    try:
        await apply_migrations(db, now=time.time())
        async with aiohttp.ClientSession(headers={"User-Agent": DEFAULT_USER_AGENT}) as session:
            kie = make_kie_client(session, settings)
            bot = ImagineBot(settings=settings, http_session=session, db=db, kie=kie)
            runner = web.AppRunner(make_app(bot, db_ping=lambda: db.fetchval("SELECT 1")))
            await runner.setup()
            await web.TCPSite(runner, settings.web_host, settings.web_port).start()
            log.info("web server on %s:%d", settings.web_host, settings.web_port)
            lag = asyncio.create_task(metrics.measure_loop_lag())
            try:
                return await _run_until_stopped(bot, settings, stop)
            finally:
                lag.cancel()
                await runner.cleanup()
    finally:
        await db.close()


async def _run_until_stopped(bot: ImagineBot, settings: Settings, stop: asyncio.Event) -> int:
    assert settings.discord_token is not None
    async with bot:
        running = asyncio.create_task(bot.start(settings.discord_token.reveal()))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            stopping.cancel()
            exc = running.exception()
            if isinstance(exc, discord.LoginFailure):
                log.error("Discord refused DISCORD_TOKEN: %s", exc)
                return 1
            if isinstance(exc, aiohttp.ClientError | OSError):
                log.error("cannot reach Discord at %s: %s", settings.discord_api_base_url, exc)
                return 1
            if exc is not None:
                raise exc
            return 0
        log.info("shutting down: no new commands; in-flight jobs stay saved")
        bot.accepting_commands = False
        if bot.engine is not None:
            await bot.engine.shutdown(timeout=bot.shutdown_grace)
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        log.info("stopped")
        return 0
