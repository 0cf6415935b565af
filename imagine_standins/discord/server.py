"""A strict local stand-in of Discord (REST under /api/v10 + gateway) for the real discord.py.

Usage::

    async with FakeDiscord() as fake:
        with point_discord_py_at(fake):
            task = asyncio.create_task(bot.start(fake.token))
            await fake.wait_identified()
            interaction = await fake.send_slash_command(fake.world.alice, "draw", {"x": 1})
            followup = await fake.wait_for_followup(interaction)

The stand-in only needs two URLs (``api_base_url``, ``gateway_url``): the production bot reads
them from ``DISCORD_API_BASE_URL`` / ``DISCORD_GATEWAY_URL``. Discord's refusals (limits, timing,
acknowledgement, token lifetime, rate limits, auth) are answered with Discord's real status and
JSON error codes.

Fault injection: ``fake.on_request("POST /channels/{channel_id}/messages", when="before",
action=kill_the_bot)`` runs the action once the request was acted on (the message stored) but
before its answer is sent; ``when="after"`` once the answer is out (``imagine_standins/hooks.py``).

Modules: ``discord_server`` (this: app, recording, auth, rate limits), ``discord_routes`` (route
table and handlers), ``discord_messages`` (message storage), ``discord_rules`` and
``discord_command_rules`` (what Discord refuses), ``discord_gateway``, ``discord_world`` (guild,
roles, channels, members), ``discord_records`` (what is recorded), ``discord_harness``
(``send_slash_command``, ``click_button``, ``submit_modal``, ``wait_for``, accessors) and
``discord_pytest`` (fixtures).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from imagine_standins.discord.cdn import Cdn
from imagine_standins.discord.gateway import Gateway
from imagine_standins.discord.harness import Harness
from imagine_standins.discord.records import (
    Injected429,
    InteractionRecord,
    Part,
    RecordedRequest,
    StoredMessage,
)
from imagine_standins.discord.routes import DEFAULT_RATE_LIMITS, ROUTES, RestRoutes
from imagine_standins.discord.rules import (
    UNAUTHORIZED,
    DiscordError,
    error,
)
from imagine_standins.discord.wire import dumps, loads
from imagine_standins.discord.world import MIB, Snowflakes, World
from imagine_standins.hooks import Hook, Hooks, When

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


_Route = tuple[str, re.Pattern[str], bool, str, str, str | None]


def _by_method() -> dict[str, list[_Route]]:
    """Return each method's routes in ``ROUTES``' order (the first that matches is taken)."""
    table: dict[str, list[_Route]] = {}
    for method, template, auth, handler, bucket, major in ROUTES:
        table.setdefault(method, []).append(
            (template, _compile(template), auth, handler, bucket, major)
        )
    return table


_COMPILED = _by_method()


def json_response(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    """Answer JSON with ``Content-Type: application/json`` exactly (discord.py compares it)."""
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(
        status=status,
        body=dumps(body),
        headers={**headers, "Content-Type": "application/json"},
    )


@functools.cache
def _bucket_hash(name: str) -> str:
    return hashlib.blake2s(name.encode(), digest_size=8).hexdigest()


class _Bucket:
    __slots__ = ("count", "hash", "limit", "name", "per", "reset_at")

    def __init__(self, name: str, limit: int, per: float) -> None:
        self.name = name
        self.hash = _bucket_hash(name)
        self.limit = limit
        self.per = per
        self.count = 0
        self.reset_at = 0.0


class FakeDiscord(RestRoutes, Harness):
    """The stand-in: an aiohttp app on 127.0.0.1 with a random port.

    Options:
        token: the bot token (REST ``Authorization: Bot <token>``, gateway IDENTIFY).
        callback_window: seconds an interaction may be answered in (Discord: 3).
        token_lifetime: seconds an interaction token works for followups/edits (Discord: 900).
        attachment_size_limit: default ``attachment_size_limit`` of dispatched interactions.
        guild_upload_limit: per-message upload limit for bot channel messages.
        rate_limits: overrides of ``DEFAULT_RATE_LIMITS`` (``{"message_create": (5, 5.0)}``).
        extra_members: ordinary members to add to the guild (``world.add_members``).
        heartbeat_interval: seconds announced in HELLO.
        dispatch_messages: send MESSAGE_CREATE/UPDATE/DELETE for non-ephemeral messages to
            sessions with the guild messages intent, as Discord does.
        max_guilds_per_session: an IDENTIFY whose session would serve more guilds is closed
            with 4011 Sharding required (Discord: 2500).
        guilds_per_recommended_shard: ``GET /gateway/bot`` recommends a shard per so many
            guilds (Discord: 1000).

    Sharding: ``world.add_guild(name, shard=(id, count))`` adds guilds; a session that
    identified with ``shard: [id, count]`` receives only the events of the guilds on its
    shard, ``(guild_id >> 22) % count``, and an invalid shard is closed with 4010.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        callback_window: float = 3.0,
        token_lifetime: float = 15 * 60,
        attachment_size_limit: int = 10 * MIB,
        guild_upload_limit: int = 10 * MIB,
        rate_limits: dict[str, tuple[int, float]] | None = None,
        extra_members: int = 0,
        heartbeat_interval: float = 41.25,
        dispatch_messages: bool = True,
        max_guilds_per_session: int = 2500,
        guilds_per_recommended_shard: int = 1000,
    ) -> None:
        self.token = token
        self.callback_window = callback_window
        self.token_lifetime = token_lifetime
        self.attachment_size_limit = attachment_size_limit
        #: Seconds within which ``enforce_nonce`` finds an earlier message ("a few minutes").
        self.nonce_window = 5 * 60.0
        self.heartbeat_interval = heartbeat_interval
        self.dispatch_messages = dispatch_messages
        self.max_guilds_per_session = max_guilds_per_session
        self.guilds_per_recommended_shard = guilds_per_recommended_shard
        self.rate_limits = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self.snowflakes = Snowflakes()
        self.world = World(self.snowflakes, guild_upload_limit=guild_upload_limit)
        if extra_members:
            self.world.add_members(extra_members)
        self.gateway = Gateway(self)
        #: Attachment files and their signed, expiring links (``cdn.py``).
        self.cdn = Cdn(base_url=lambda: self.base_url, now=self.now)

        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        #: Exceptions raised inside the stand-in itself (answered 500); should stay empty.
        self.errors: list[BaseException] = []
        self.messages: dict[int, StoredMessage] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}
        #: Current command definitions: key ``"global"`` or the guild id.
        self.commands: dict[str | int, list[dict[str, Any]]] = {}
        #: How many bulk overwrites were accepted, same keys.
        self.command_syncs: dict[str | int, int] = {}
        self.served_429s = 0
        self._injected: list[Injected429] = []
        #: Fault injection (``on_request``); action errors also land in ``errors``.
        self.hooks: Hooks[RecordedRequest] = Hooks(self.errors)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._time_offset = 0.0
        self._seq = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> FakeDiscord:
        """Start serving on 127.0.0.1 (random port)."""
        app = web.Application(client_max_size=1024 * MIB)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._cdn)
        app.router.add_get(
            "/ephemeral-attachments/{channel_id}/{attachment_id}/{filename}", self._cdn
        )
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Close the gateway sockets and stop serving."""
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        """Return the REST base (what ``DISCORD_API_BASE_URL`` should be)."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Return the gateway URL (what ``DISCORD_GATEWAY_URL`` should be)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def identified(self) -> asyncio.Event:
        """Return the event set once an IDENTIFY was answered (READY + GUILD_CREATE sent)."""
        return self.gateway.identified

    # ------------------------------------------------------------------ time and limits
    def now(self) -> float:
        """Return the stand-in's clock (wall clock plus ``advance_time`` offsets)."""
        return time.time() + self._time_offset

    def advance_time(self, seconds: float) -> None:
        """Move the stand-in's clock forward: interactions age, rate-limit windows pass."""
        self._time_offset += seconds

    def inject_429(
        self,
        route_pred: str | Callable[[RecordedRequest], bool],
        retry_after: float,
        global_: bool = False,
        *,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching requests with 429.

        ``route_pred`` is ``"METHOD /template"`` (e.g. ``"POST /channels/{channel_id}/messages"``)
        or a predicate on the RecordedRequest.
        """
        predicate: Callable[[RecordedRequest], bool]
        if isinstance(route_pred, str):
            wanted = route_pred

            def predicate(req: RecordedRequest) -> bool:
                return req.key == wanted

        else:
            predicate = route_pred
        self._injected.append(Injected429(predicate, retry_after, global_, count))

    def on_request(
        self,
        match: str | Callable[[RecordedRequest], bool],
        *,
        when: When = "before",
        action: Callable[[RecordedRequest], Any],
        times: int | None = 1,
    ) -> Hook[RecordedRequest]:
        """Run ``action(request)`` when a matching request comes in (fault injection).

        ``match`` is ``"METHOD /template"`` (e.g. ``"POST /webhooks/{application_id}/{token}"``)
        or a predicate on the RecordedRequest, checked once the request was handled: its
        ``json``, ``parts`` and ``outcome`` (the status it is answered with) are known.
        ``when="before"``: Discord has acted on the request (stored the message, recorded the
        acknowledgement…) but the answer is not sent until the action, awaited if it returns
        an awaitable, is done. ``when="after"``: the answer has been written out. ``times``
        limits how many requests fire it (None: all). The answer itself never changes; see
        ``imagine_standins/hooks.py``.
        """
        return self.hooks.on(match, lambda req: req.key, when=when, action=action, times=times)

    def _bucket(self, name: str, major: str) -> _Bucket:
        key = (name, major)
        bucket = self._buckets.get(key)
        if bucket is None:
            limit, per = self.rate_limits[name]
            bucket = self._buckets[key] = _Bucket(name, limit, per)
        return bucket

    def _rl_headers(self, bucket: _Bucket, now: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(bucket.limit - bucket.count, 0)),
            "X-RateLimit-Reset": f"{bucket.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{max(bucket.reset_at - now, 0.0):.3f}",
            "X-RateLimit-Bucket": bucket.hash,
        }

    def _too_many(
        self, retry_after: float, global_: bool, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.served_429s += 1
        headers = {
            **headers,
            "Retry-After": str(max(1, round(retry_after + 0.499))),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if global_ else "user",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": global_,
        }
        return 429, body, headers

    # ------------------------------------------------------------------ dispatch
    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _parse(self, request: web.Request, rec: RecordedRequest) -> None:
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            rec.multipart = True
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read(decode=False)  # type: ignore[union-attr]
                rec.parts.append(
                    Part(
                        part.name or "",  # type: ignore[union-attr]
                        part.filename,  # type: ignore[union-attr]
                        part.headers.get("Content-Type"),
                        bytes(data),
                    )
                )
            for p in rec.parts:
                if p.name == "payload_json":
                    rec.json = p.json()
            return
        raw = await request.read()
        if raw:
            rec.json = loads(raw)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        self._seq += 1
        rec = RecordedRequest(
            seq=self._seq,
            method=method,
            route=None,
            path=path,
            params={},
            query=dict(request.query) if request.query_string else {},
            headers=dict(request.headers),
            time=self.now(),
        )
        self.requests.append(rec)
        route = None
        for template, pattern, auth, handler, bucket_name, major in _COMPILED.get(method, ()):
            match = pattern.match(path)
            if match:
                route = (template, auth, handler, bucket_name, major)
                rec.route = template
                rec.params = match.groupdict()
                break
        try:
            await self._parse(request, rec)
        except ValueError:
            body = {"message": "The request body contains invalid JSON.", "code": 50109}
            return await self._reply(request, rec, 400, body, {})
        if route is None:
            self.unhandled.append(rec)
            log.warning("fake discord: unhandled %s %s", method, path)
            bucket = self._bucket("default", f"{method} {path}")
            return await self._reply(
                request,
                rec,
                404,
                {"message": "404: Not Found", "code": 0},
                self._rl_headers(bucket, self.now()),
            )
        template, auth, handler, bucket_name, major = route
        now = self.now()
        major_key = rec.params.get(major, "") if major else ""
        bucket = self._bucket(bucket_name, f"{template}:{major_key}")
        if now >= bucket.reset_at:
            bucket.count, bucket.reset_at = 0, now + bucket.per
        if auth and request.headers.get("Authorization") != f"Bot {self.token}":
            headers = self._rl_headers(bucket, now)
            return await self._reply(request, rec, *self._error_body(error(UNAUTHORIZED)), headers)
        for inj in self._injected:
            if inj.remaining > 0 and inj.predicate(rec):
                inj.remaining -= 1
                headers = self._rl_headers(bucket, now)
                return await self._reply(
                    request, rec, *self._too_many(inj.retry_after, inj.global_, headers)
                )
        if bucket.count >= bucket.limit:
            headers = self._rl_headers(bucket, now)
            return await self._reply(
                request, rec, *self._too_many(bucket.reset_at - now, False, headers)
            )
        bucket.count += 1
        headers = self._rl_headers(bucket, now)
        try:
            fn: Callable[[RecordedRequest], Awaitable[tuple[int, Any]]] = getattr(self, handler)
            status, body = await fn(rec)
        except DiscordError as exc:
            status, body = self._error_body(exc)
        except Exception as exc:  # a bug in the stand-in: answer 500 and keep it for the test
            log.exception("fake discord: %s %s crashed", method, path)
            self.errors.append(exc)
            status, body = 500, {"message": "500: Internal Server Error", "code": 0}
        return await self._reply(request, rec, status, body, headers)

    @staticmethod
    def _error_body(exc: DiscordError) -> tuple[int, dict[str, Any]]:
        return exc.status, exc.body()

    def _record_done(self, rec: RecordedRequest, status: int, body: Any) -> None:
        rec.status, rec.response = status, body
        self._notify()

    async def _reply(
        self,
        request: web.Request,
        rec: RecordedRequest,
        status: int,
        body: Any,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """Answer, running the fault-injection hooks just before and just after."""
        rec.outcome = status
        await self.hooks.run(rec, "before")
        response = json_response(status, body, headers)
        self._record_done(rec, status, body)
        after = self.hooks.claim(rec, "after") if self.hooks.pending("after") else []
        if after:
            # Write the answer out completely before the action runs.
            with contextlib.suppress(ConnectionError):
                await response.prepare(request)
                await response.write_eof()
            await self.hooks.fire(after, rec)
        return response

    async def _cdn(self, request: web.Request) -> web.Response:
        posted = (a for m in self.messages.values() if not m.deleted for a in m.attachments)
        return await self.cdn.serve(request, posted)


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py's REST base and default gateway at ``fake``; restore them afterwards.

    Raises AttributeError when discord.py no longer has the two class attributes the
    redirect relies on (``discord.http.Route.BASE``, ``DiscordWebSocket.DEFAULT_GATEWAY``).
    """
    import discord.gateway
    import discord.http
    import yarl

    route_cls = discord.http.Route
    ws_cls = discord.gateway.DiscordWebSocket
    for owner, attr in ((route_cls, "BASE"), (ws_cls, "DEFAULT_GATEWAY")):
        if attr not in vars(owner):
            raise AttributeError(
                f"discord.py {discord.__version__} has no {owner.__qualname__}.{attr}: the "
                "Discord stand-in cannot redirect it; find where this version keeps its REST "
                "base URL and default gateway URL and patch those here instead"
            )
    old_base, old_gateway = route_cls.BASE, ws_cls.DEFAULT_GATEWAY
    if not isinstance(old_gateway, yarl.URL):
        raise TypeError(f"DiscordWebSocket.DEFAULT_GATEWAY is {type(old_gateway)}, not yarl.URL")
    route_cls.BASE = fake.api_base_url
    ws_cls.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        route_cls.BASE = old_base
        ws_cls.DEFAULT_GATEWAY = old_gateway
