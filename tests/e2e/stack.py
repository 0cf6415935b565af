"""The end-to-end stack: both stand-ins and the real, unmodified bot, in this process.

``start_stack`` starts the bot (and, with ``callbacks=True``, its web server) against a
Discord stand-in and a kie stand-in and waits until it is logged in; ``stop_stack`` closes it.
``Stack`` is what a test drives and inspects. Waits are on conditions, never sleeps. The
pytest fixtures that build one are in ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.imagine_bot import ImagineBot
from bot.jobs.models import Job
from bot.jobs.store import JobStore
from bot.kie import KieLimiter
from bot.runtime import build_bot, make_kie_client, make_web_app
from bot.settings import Settings
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord, InteractionRecord, StoredMessage
from imagine_standins.kie import FakeKie

KIE_KEY = "kie-test-key-0123456789"


@dataclass
class Stack:
    """Everything a test drives or inspects."""

    discord: FakeDiscord
    kie: FakeKie
    db: Database
    bot: ImagineBot
    session: aiohttp.ClientSession
    web_url: str | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def world(self) -> Any:
        return self.discord.world

    @property
    def store(self) -> JobStore:
        return JobStore(self.db)

    async def imagine(
        self,
        member: Any = None,
        *,
        channel: Any = None,
        attachment_size_limit: int | None = None,
        **options: Any,
    ) -> InteractionRecord:
        """Send /imagine as `member` (default: alice) and wait for its acknowledgement."""
        options.setdefault("prompt", "a red fox in the snow")
        interaction = await self.discord.send_slash_command(
            member or self.world.alice,
            "imagine",
            options,
            channel=channel,
            attachment_size_limit=attachment_size_limit,
        )
        await self.discord.wait_for(lambda: interaction.acknowledged)
        return interaction

    async def job_for(self, interaction: InteractionRecord, timeout: float = 5.0) -> Job:
        """Return the job created by this interaction."""

        async def find() -> Job | None:
            row = await self.db.fetchrow(
                "SELECT id FROM jobs WHERE interaction_id = $1", interaction.id
            )
            return None if row is None else await self.store.get(row["id"])

        return await wait_until(find, timeout=timeout)

    async def wait_job(
        self, job_id: str, pred: Callable[[Job], bool] | None = None, timeout: float = 15.0
    ) -> Job:
        """Wait until the job satisfies `pred` (default: finished)."""
        check = pred or (lambda j: j.state.finished)

        async def find() -> Job | None:
            job = await self.store.get(job_id)
            return job if job is not None and check(job) else None

        return await wait_until(find, timeout=timeout)

    def reply_text(self, interaction: InteractionRecord) -> str:
        """Return what the member sees in the interaction's replies (original + followups)."""
        messages = [
            self.discord.original_for(interaction),
            *self.discord.followups_for(interaction),
        ]
        return "\n".join(text_of(m) for m in messages)

    async def wait_reply(self, interaction: InteractionRecord, needle: str) -> str:
        """Wait until the interaction's replies contain `needle`; return the text."""
        return await self.discord.wait_for(
            lambda: needle in (t := self.reply_text(interaction)) and t, timeout=10
        )

    def results_for(self, job: Job) -> list[StoredMessage]:
        """Return the non-ephemeral messages carrying this job's images."""
        return [
            m
            for m in self.discord.messages.values()
            if not m.deleted
            and not m.ephemeral
            and m.attachments
            and any(job.id in str(c) for c in m.components)
        ]


def text_of(message: StoredMessage | None) -> str:
    """Return everything a member reads in a message: content and embed text."""
    if message is None:
        return ""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(p for p in parts if p)


async def wait_until(
    probe: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Await `probe()` until it returns something truthy (database state has no events)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def make_settings(discord: FakeDiscord, kie: FakeKie, **env: str) -> Settings:
    """Return the bot's settings pointing at both stand-ins."""
    base = {
        "DISCORD_TOKEN": discord.token,
        "KIE_API_KEY": KIE_KEY,
        "KIE_API_BASE_URL": kie.base_url,
        "KIE_RESULT_HOSTS": "127.0.0.1",
        "DISCORD_API_BASE_URL": discord.api_base_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATABASE_URL": "sqlite:///unused.db",
    }
    return Settings.from_env({**base, **env})


async def start_stack(
    discord: FakeDiscord,
    kie: FakeKie,
    db: Database,
    *,
    callbacks: bool = False,
    hmac_key: str | None = None,
    limiter: KieLimiter | None = None,
    engine_options: dict[str, Any] | None = None,
    **env: str,
) -> Stack:
    """Start the web server (for callbacks) and the bot; wait until it is logged in."""
    engine_options = engine_options or {}
    session = aiohttp.ClientSession()
    web_url = None
    runner = None
    if callbacks:
        site_port = _free_port()
        web_url = f"http://127.0.0.1:{site_port}"
        env["PUBLIC_BASE_URL"] = web_url
    if hmac_key:
        env["KIE_WEBHOOK_HMAC_KEY"] = hmac_key
    settings = make_settings(discord, kie, **env)
    kie_client = make_kie_client(session, settings, limiter=limiter)
    bot = build_bot(
        settings,
        http_session=session,
        db=db,
        kie=kie_client,
        interaction_lifetime=discord.token_lifetime,
        shutdown_grace=5.0,
        guild_ready_timeout=0.05,
        engine_options={"default_expected": {"1K": 0.3, "2K": 0.3, "4K": 0.3}, **engine_options},
    )
    if callbacks:
        runner = web.AppRunner(make_web_app(bot))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", site_port).start()
    stack = Stack(discord=discord, kie=kie, db=db, bot=bot, session=session, web_url=web_url)
    stack._task = asyncio.create_task(bot.start(settings.discord_token.reveal()))  # type: ignore[union-attr]
    stack._runner = runner  # type: ignore[attr-defined]
    await discord.wait_identified(timeout=10)
    await wait_until(lambda: _ready(bot), timeout=10)
    return stack


async def _ready(bot: ImagineBot) -> bool:
    return bot.engine is not None and bot.is_ready()


async def stop_stack(stack: Stack) -> None:
    """Close the bot (its engine keeps unfinished jobs saved) and the web server."""
    await stack.bot.close()
    if stack._task is not None:
        await asyncio.gather(stack._task, return_exceptions=True)
    runner = getattr(stack, "_runner", None)
    if runner is not None:
        await runner.cleanup()
    await stack.session.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
