"""The demo's stage: both stand-ins on 127.0.0.1 and the real bot, built as `python -m bot` is.

The bot is put together by `bot/runtime.py` (the composition root `python -m bot` uses) from
settings that point at the stand-ins, with kie.ai callbacks to its own web server, a SQLite
file in a temporary directory, and nothing else changed. Members act only through the
Discord stand-in's harness, which sends interactions the way Discord does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.imagine_bot import ImagineBot
from bot.jobs.models import Job
from bot.jobs.store import JobStore
from bot.kie import DEFAULT_USER_AGENT
from bot.runtime import build_bot, make_kie_client, make_web_app
from bot.settings import Settings
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from imagine_standins.discord import FakeDiscord, InteractionRecord, StoredMessage
from imagine_standins.kie import Durations, FakeKie

__all__ = ["Stage", "open_stage"]

KIE_KEY = "demo-kie-key"
# Quick kie tasks keep the whole demo well under a minute; `slow` prompts stay generating
# long enough to be cancelled, or to be caught mid-way when the transcript is written.
QUICK = Durations(waiting=0.2, queuing=0.3, generating=1.2)
SLOW = Durations(waiting=0.2, queuing=0.3, generating=120.0)
STARTUP_TIMEOUT = 30.0
STEP_TIMEOUT = 30.0


@dataclass
class Stage:
    """The running stand-ins and bot, and what the script needs to drive and read them."""

    discord: FakeDiscord
    kie: FakeKie
    bot: ImagineBot
    db: Database
    slow_prompts: set[str]

    @property
    def world(self) -> Any:
        """Return the Discord stand-in's guild, members and channels."""
        return self.discord.world

    async def command(
        self, member: Any, name: str, options: dict[str, Any] | None = None
    ) -> InteractionRecord:
        """Send `/name` as `member` (through the harness) and wait until the bot acknowledged."""
        interaction = await self.discord.send_slash_command(member, name, options or {})
        await self.discord.wait_for(lambda: interaction.acknowledged, timeout=STEP_TIMEOUT)
        return interaction

    async def click(self, message: StoredMessage, custom_id: str, member: Any) -> InteractionRecord:
        """Click a button as `member` and wait until the bot acknowledged."""
        interaction = await self.discord.click_button(message, custom_id, member)
        await self.discord.wait_for(lambda: interaction.acknowledged, timeout=STEP_TIMEOUT)
        return interaction

    async def job_for(self, interaction: InteractionRecord) -> Job:
        """Return the job the interaction started (waiting for its row)."""

        async def find() -> Job | None:
            job_id = await self.db.fetchval(
                "SELECT id FROM jobs WHERE interaction_id = $1", interaction.id
            )
            return None if job_id is None else await JobStore(self.db).get(job_id)

        return await _poll(find)

    async def job_until(self, job_id: str, done: Callable[[Job], bool]) -> Job:
        """Wait until the job satisfies `done`; return it."""

        async def find() -> Job | None:
            job = await JobStore(self.db).get(job_id)
            return job if job is not None and done(job) else None

        return await _poll(find)

    async def reply(self, interaction: InteractionRecord, needle: str) -> StoredMessage:
        """Wait until the interaction's reply (original response) shows `needle`; return it."""

        def find() -> StoredMessage | None:
            message = self.discord.original_for(interaction)
            return message if message is not None and needle in text_of(message) else None

        return await self.discord.wait_for(find, timeout=STEP_TIMEOUT)

    async def reply_with_buttons(self, interaction: InteractionRecord) -> StoredMessage:
        """Wait until the interaction's reply carries buttons (live progress); return it."""

        def find() -> StoredMessage | None:
            message = self.discord.original_for(interaction)
            return message if message is not None and message.components else None

        return await self.discord.wait_for(find, timeout=STEP_TIMEOUT)


def text_of(message: StoredMessage) -> str:
    """Return what a member reads in a message: its content and its embeds' text."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(p for p in parts if p)


async def _poll(probe: Callable[[], Any], timeout: float = STEP_TIMEOUT) -> Any:
    """Await `probe()` until it returns something truthy (database rows send no events)."""
    deadline = time.monotonic() + timeout
    while not (value := await probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bot did not get there within {timeout:.0f} s")
        await asyncio.sleep(0.05)
    return value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(discord: FakeDiscord, kie: FakeKie, database: Path) -> Settings:
    """Return the settings `python -m bot` would read, pointed at the stand-ins."""
    port = _free_port()
    return Settings.from_env(
        {
            "DISCORD_TOKEN": discord.token,
            "KIE_API_KEY": KIE_KEY,
            "KIE_API_BASE_URL": kie.base_url,
            "KIE_RESULT_HOSTS": "127.0.0.1",
            "DISCORD_API_BASE_URL": discord.api_base_url,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "DATABASE_URL": f"sqlite:///{database}",
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            # kie's callbacks reach the bot's own web server: results are noticed at once.
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "LOG_LEVEL": "WARNING",
        }
    )


def _durations(slow_prompts: set[str]) -> Callable[[dict[str, Any]], Durations]:
    def pick(body: dict[str, Any]) -> Durations:
        prompt = str(body.get("input", {}).get("prompt", ""))
        return SLOW if any(prompt.startswith(p) for p in slow_prompts) else QUICK

    return pick


@contextlib.asynccontextmanager
async def open_stage() -> AsyncIterator[Stage]:
    """Start the stand-ins and the bot; wait until a member could use its commands."""
    slow_prompts: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="imagine-demo-") as scratch:
        async with (
            FakeDiscord() as discord,
            FakeKie(api_key=KIE_KEY, durations=_durations(slow_prompts)) as kie,
        ):
            discord.world.guild_name = "Imagine demo"
            discord.world.bot_user.username = "Imagine"
            settings = _settings(discord, kie, Path(scratch) / "imagine.db")
            db = await open_database(settings.database_url)
            try:
                await apply_migrations(db, now=time.time())
                async with aiohttp.ClientSession(
                    headers={"User-Agent": DEFAULT_USER_AGENT}
                ) as session:
                    bot = build_bot(
                        settings,
                        http_session=session,
                        db=db,
                        kie=make_kie_client(session, settings),
                    )
                    runner = web.AppRunner(make_web_app(bot))
                    await runner.setup()
                    await web.TCPSite(runner, settings.web_host, settings.web_port).start()
                    assert settings.discord_token is not None
                    running = asyncio.create_task(bot.start(settings.discord_token.reveal()))
                    try:
                        await _until_ready(discord, bot, running)
                        yield Stage(discord, kie, bot, db, slow_prompts)
                    finally:
                        await bot.close()
                        await asyncio.gather(running, return_exceptions=True)
                        await runner.cleanup()
            finally:
                await db.close()


async def _until_ready(discord: FakeDiscord, bot: ImagineBot, running: asyncio.Task[None]) -> None:
    """Wait until the bot synced its commands and is connected, or report why it stopped."""

    async def ready() -> bool:
        if running.done():
            exc = running.exception()
            raise RuntimeError(f"the bot stopped while starting: {exc!r}")
        return bool(discord.commands.get("global")) and bot.is_ready()

    await _poll(ready, timeout=STARTUP_TIMEOUT)
