"""The Discord process: a commands.Bot, and the one place where the job machinery is built.

From the injected resources (settings, HTTP session, database, kie client) it builds, once:
control (channels, quotas, blocklist) → the Discord delivery → the job engine → admission.
Cogs and the web server read these attributes; none of them builds its own.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.cluster.limiter import Limiter, LocalLimiter
from bot.cluster.notify import Notifier
from bot.control import Control
from bot.control.admission import Admission
from bot.discord_limit import discord_rate_trace
from bot.images import download_all
from bot.images.peek import peek_image
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.leases import Leases, instance_name
from bot.jobs.models import INTERACTION_LIFETIME
from bot.jobs.ports import Delivery
from bot.jobs.store import JobStore
from bot.kie import DEFAULT_USER_AGENT, KieClient
from bot.settings import Settings
from bot.store.database import Database
from bot.tree import CatalogueTranslator, ImagineTree

__all__ = ["COGS", "ImagineBot", "ShardedImagineBot", "point_discord_py_at"]

log = logging.getLogger(__name__)

COGS = ("cogs.imagine", "cogs.quota", "cogs.admin")
# Where Discord serves attachments: the only hosts a member's reference image is read from.
DISCORD_CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")


def reference_hosts(settings: Settings) -> tuple[str, ...]:
    """Return the hosts reference images may be read from: Discord's CDN, and the host of
    DISCORD_API_BASE_URL (a REST proxy or a local stand-in serves its own attachments)."""
    api_host = urlsplit(settings.discord_api_base_url).hostname
    return DISCORD_CDN_HOSTS + ((api_host,) if api_host else ())


def point_discord_py_at(api_base_url: str, gateway_url: str) -> None:
    """Send discord.py's REST calls and gateway connection to the configured URLs.

    discord.py reads `Route.BASE` when each request is built and `DEFAULT_GATEWAY` when it
    connects; both are class attributes, so this works for a REST proxy or a local stand-in.
    """
    discord.http.Route.BASE = api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class ImagineBot(commands.Bot):
    """The bot: holds the shared session, database, kie client and job engine."""

    def __init__(
        self,
        *,
        settings: Settings,
        http_session: aiohttp.ClientSession,
        db: Database,
        kie: KieClient,
        make_delivery: Callable[[ImagineBot], Delivery],
        interaction_lifetime: float = INTERACTION_LIFETIME,
        shutdown_grace: float = 20.0,
        engine_options: dict[str, Any] | None = None,
        notifier: Notifier | None = None,
        limiter: Limiter | None = None,
        **options: Any,
    ) -> None:
        # Interactions carry the member, their roles and permissions; the guilds intent
        # keeps roles and channels cached. No privileged intent is needed.
        # The bot never joins voice: don't warn every start that voice libraries are absent.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True
        limiter = limiter or LocalLimiter()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=ImagineTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            # Discord's 50 requests a second, counted with the other processes' requests.
            http_trace=discord_rate_trace(limiter),
            **options,
        )
        self.settings = settings
        self.http_session = http_session
        self.db = db
        self.kie = kie
        # Messages between the bot's processes and limits held by all of them together
        # (bot/cluster/; in-process on SQLite, where there is one process).
        self.notifier = notifier or Notifier()
        self.limiter: Limiter = limiter or LocalLimiter()
        # Discord's interaction tokens live 15 minutes; tests shorten it with their stand-in.
        self.interaction_lifetime = interaction_lifetime
        # How long a shutdown lets deliveries under way finish.
        self.shutdown_grace = shutdown_grace
        # Channel settings, quotas and blocklist, with their caches: one per process.
        self.control = Control.for_database(db, notifier=self.notifier)
        self.delivery = make_delivery(self)
        # A look at a member's reference image (its first bytes): bot/jobs/references.py.
        peek = functools.partial(
            peek_image,
            http_session,
            allowed_hosts=reference_hosts(settings),
            user_agent=DEFAULT_USER_AGENT,
        )
        leases = Leases(
            instance_name(settings.web_port),
            seconds=settings.job_lease_seconds,
            exclusive=db.dialect == "sqlite",
        )
        self.engine = JobEngine(
            store=JobStore(db, leases=leases),
            notifier=self.notifier,
            kie=kie,
            delivery=self.delivery,
            download=functools.partial(
                download_all,
                http_session,
                allowed_hosts=settings.kie_result_hosts,
                user_agent=DEFAULT_USER_AGENT,
            ),
            quota=self.control.quotas,
            peek=peek,
            # Tests override fields (sub-second kie timings).
            config=EngineConfig(
                callback_base_url=settings.public_base_url,
                max_jobs_per_member=settings.max_jobs_per_member,
                **(engine_options or {}),
            ),
        )
        self.admission = Admission(
            control=self.control,
            jobs=self.engine.store,
            engine=self.engine,
            max_jobs_per_member=settings.max_jobs_per_member,
            max_queued_per_member=settings.max_queued_per_member,
            peek=peek,
        )
        point_discord_py_at(settings.discord_api_base_url, settings.discord_gateway_url)

    def gateway_open(self) -> bool:
        """Return whether the gateway connection is open."""
        return self.ws is not None and self.ws.open

    async def setup_hook(self) -> None:
        for extension in COGS:
            await self.load_extension(extension)
        # Before the sync: the Chinese descriptions and choice names are part of it.
        await self.tree.set_translator(CatalogueTranslator())
        await self.sync_commands_if_changed()
        await self.engine.start()

    async def close(self) -> None:
        """Stop the engine (unfinished jobs stay saved), then disconnect from Discord."""
        await self.engine.shutdown(timeout=self.shutdown_grace)
        await self.delivery.close()
        await super().close()

    async def command_payload(self) -> list[dict[str, Any]]:
        """Return the command definitions a sync would send, localisations included, sorted."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        commands_ = self.tree.get_commands(guild=guild)
        translator = self.tree.translator
        # What tree.sync sends: with a translator, each command's translated payload.
        payload = [
            await c.get_translated_payload(self.tree, translator)
            if translator is not None
            else c.to_dict(self.tree)
            for c in commands_
        ]
        return sorted(payload, key=lambda c: c["name"])

    async def sync_commands_if_changed(self) -> bool:
        """Sync the command tree only when it differs from the last sync; return if it synced.

        Discord allows 200 command creates a day per guild; syncing on every restart of a
        crash-looping bot would spend them, so the hash of the last synced tree is kept in
        the database, keyed by application and scope.
        """
        payload = await self.command_payload()
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        scope = f"guild:{self.settings.dev_guild_id}" if self.settings.dev_guild_id else "global"
        key = f"command_sync:{self.application_id}:{scope}"
        if await self.db.fetchval("SELECT value FROM bot_state WHERE key = $1", key) == digest:
            log.info("commands unchanged since the last sync (%s); not syncing", scope)
            return False
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        await self.tree.sync(guild=guild)
        await self.db.execute(
            "INSERT INTO bot_state (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            digest,
        )
        log.info("synced %d commands (%s)", len(payload), scope)
        return True


class ShardedImagineBot(ImagineBot, commands.AutoShardedBot):
    """The bot on Discord's gateway shards SHARD_IDS of SHARD_COUNT (all of them if unset).

    The bot that runs, always: with SHARD_COUNT unset too, discord.py's AutoShardedBot asks
    Discord for its recommended count, as the settings table promises. It opens one connection
    per shard of this process; Discord sends each guild's events only to its shard's
    connection. Everything else is ImagineBot's.
    """

    def __init__(self, *, settings: Settings, **options: Any) -> None:
        ids = list(settings.shard_ids) if settings.shard_ids is not None else None
        super().__init__(
            settings=settings, shard_count=settings.shard_count, shard_ids=ids, **options
        )

    def gateway_open(self) -> bool:
        """Return whether every shard of this process is connected."""
        shards = self.shards.values()
        return bool(shards) and not any(shard.is_closed() for shard in shards)
