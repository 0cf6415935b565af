"""Run the bot: open the shared resources, build the bot, serve the web routes, stop on signals.

This is the composition root: the only module that puts the Discord side (`cogs/`) and the
job machinery (`bot/`) together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import discord
from aiohttp import web

from bot import metrics
from bot.cluster.build import cluster_for
from bot.heap import settle_heap
from bot.imagine_bot import ImagineBot, ShardedImagineBot
from bot.kie import DEFAULT_USER_AGENT, KieClient, KieLimiter
from bot.settings import Settings
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from bot.store.single_process import AlreadyRunning, hold_sqlite_file
from bot.web import make_app
from cogs.imagine import DiscordDelivery

__all__ = ["build_bot", "make_kie_client", "make_web_app", "run_bot"]

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


def build_bot(
    settings: Settings,
    *,
    http_session: aiohttp.ClientSession,
    db: Database,
    kie: KieClient,
    **options: Any,
) -> ImagineBot:
    """Return the bot, its results delivered to Discord by the imagine cog's delivery."""
    return ShardedImagineBot(
        settings=settings,
        http_session=http_session,
        db=db,
        kie=kie,
        make_delivery=lambda bot: DiscordDelivery(
            bot, interaction_lifetime=bot.interaction_lifetime
        ),
        **options,
    )


def make_web_app(bot: ImagineBot) -> web.Application:
    """Return the web server's application for this bot."""
    hmac_key = bot.settings.kie_webhook_hmac_key
    return make_app(
        engine=bot.engine,
        db=bot.db,
        hmac_key=hmac_key.reveal() if hmac_key else None,
        gateway_up=lambda: bot.is_ready() and not bot.is_closed() and bot.gateway_open(),
        discord_latency=lambda: bot.latency,
    )


async def run_bot(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; return the process exit code."""
    assert settings.discord_token is not None and settings.kie_api_key is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    if settings.database_url.startswith("sqlite:///"):
        try:
            lock = hold_sqlite_file(Path(settings.database_url.removeprefix("sqlite:///")))
        except AlreadyRunning as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        lock = None
    db = await open_database(settings.database_url)
    try:
        await apply_migrations(db, now=time.time())
        notifier, limiter, kie_limiter = cluster_for(db, settings.database_url)
        await notifier.start()
        async with aiohttp.ClientSession(headers={"User-Agent": DEFAULT_USER_AGENT}) as session:
            kie = make_kie_client(session, settings, limiter=kie_limiter)
            bot = build_bot(
                settings, http_session=session, db=db, kie=kie, notifier=notifier, limiter=limiter
            )
            settle_heap()  # what exists now lives as long as the process (bot/heap.py)
            runner = web.AppRunner(make_web_app(bot))
            await runner.setup()
            await web.TCPSite(runner, settings.web_host, settings.web_port).start()
            log.info("web server on %s:%d", settings.web_host, settings.web_port)
            lag = asyncio.create_task(metrics.measure_loop_lag())
            try:
                return await _run_until_stopped(bot, settings, stop)
            finally:
                lag.cancel()
                await runner.cleanup()
                await notifier.close()
    finally:
        await db.close()
        if lock is not None:
            os.close(lock)


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
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        log.info("stopped")
        return 0
