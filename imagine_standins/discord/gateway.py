"""The gateway half of the Discord stand-in: one websocket session per connected client.

Speaks plain TEXT JSON frames, which discord.py parses whatever compression it asked for
(``received_message`` only decompresses ``bytes``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from imagine_standins.discord.wire import dumps, loads
from imagine_standins.discord.world import Guild, shard_of

if TYPE_CHECKING:
    from imagine_standins.discord.server import FakeDiscord

log = logging.getLogger(__name__)

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
CHUNK_SIZE = 1000
# Discord's close codes for a bad `shard` in IDENTIFY, and for a session that would serve
# more guilds than one session may (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011


@dataclass
class GatewaySession:
    """One connected websocket and its Discord session state."""

    ws: web.WebSocketResponse
    query: dict[str, str]
    session_id: str = ""
    seq: int = 0
    intents: int = 0
    identified: bool = False
    resumed: bool = False
    heartbeats: int = 0
    #: ``(shard_id, shard_count)`` from IDENTIFY; None: one session for every guild.
    shard: tuple[int, int] | None = None
    received: list[dict[str, Any]] = field(default_factory=list)

    def serves(self, guild_id: int) -> bool:
        """Return whether this session receives the guild's events."""
        return self.shard is None or shard_of(guild_id, self.shard[1]) == self.shard[0]

    async def send(self, op: int, d: Any = None, t: str | None = None) -> None:
        """Send one frame (dispatches get the next sequence number)."""
        frame: dict[str, Any] = {"op": op, "d": d, "s": None, "t": t}
        if op == 0:
            self.seq += 1
            frame["s"] = self.seq
        if not self.ws.closed:
            await self.ws.send_str(dumps(frame).decode())


class Gateway:
    """Gateway protocol: HELLO, heartbeats, IDENTIFY/READY, RESUME, member chunks, dispatch."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: list[GatewaySession] = []
        self._by_session_id: dict[str, GatewaySession] = {}
        #: Set when an IDENTIFY was answered with READY and GUILD_CREATE.
        self.identified = asyncio.Event()
        #: Set when a RESUME was answered with RESUMED.
        self.resumed = asyncio.Event()
        self.identify_payloads: list[dict[str, Any]] = []
        #: When True, new gateway connections are refused (Discord's gateway unreachable).
        self.refuse_connections = False

    @property
    def active(self) -> list[GatewaySession]:
        """Return the identified sessions whose socket is open."""
        return [s for s in self.sessions if s.identified and not s.ws.closed]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one websocket connection."""
        if self.refuse_connections:
            return web.Response(status=503, text="gateway unavailable")  # type: ignore[return-value]
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(ws, dict(request.query))
        self.sessions.append(session)
        await session.send(10, {"heartbeat_interval": int(self.fake.heartbeat_interval * 1000)})
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(session, loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self.sessions.remove(session)
        return ws

    async def _on_frame(self, session: GatewaySession, frame: dict[str, Any]) -> None:
        session.received.append(frame)
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            session.heartbeats += 1
            await session.send(11)
        elif op == 2:
            await self._identify(session, d or {})
        elif op == 6:
            await self._resume(session, d or {})
        elif op == 8:
            await self._request_members(session, d or {})
        elif op in (3, 4):  # presence / voice state updates: accepted, ignored
            return
        else:
            await session.ws.close(code=4001, message=b"Unknown opcode")
        self.fake._notify()

    async def _identify(self, session: GatewaySession, d: dict[str, Any]) -> None:
        if d.get("token") != self.fake.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        world = self.fake.world
        self.identify_payloads.append(d)
        try:
            shard = _shard(d.get("shard"))
        except ValueError:
            await session.ws.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return
        session.shard = shard
        guilds = [g for g in world.guilds.values() if session.serves(g.guild_id)]
        if len(guilds) > self.fake.max_guilds_per_session:
            await session.ws.close(code=CLOSE_SHARDING_REQUIRED, message=b"Sharding required.")
            return
        session.intents = int(d.get("intents") or 0)
        session.session_id = secrets.token_hex(16)
        self._by_session_id[session.session_id] = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": {
                **world.bot_user.to_payload(),
                "verified": True,
                "mfa_enabled": False,
                "flags": 0,
            },
            "guilds": [{"id": str(g.guild_id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.gateway_url,
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth_session_id_hash": "fake",
        }
        if shard is not None:
            ready["shard"] = list(shard)
        await session.send(0, ready, "READY")
        for guild in guilds:
            # Without the presences intent Discord only sends the bot's own member (and
            # voice members); clients with the members intent then ask for chunks (op 8).
            members = None if session.intents & INTENT_GUILD_PRESENCES else [guild.bot_member]
            await session.send(0, guild.guild_payload(members=members), "GUILD_CREATE")
        session.identified = True
        self.identified.set()

    async def _resume(self, session: GatewaySession, d: dict[str, Any]) -> None:
        old = self._by_session_id.get(d.get("session_id", ""))
        if d.get("token") != self.fake.token or old is None:
            await session.send(9, False)
            return
        session.session_id = old.session_id
        session.seq = max(old.seq, int(d.get("seq") or 0))
        session.intents = old.intents
        session.shard = old.shard
        session.identified = True
        session.resumed = True
        self._by_session_id[session.session_id] = session
        await session.send(0, {}, "RESUMED")
        self.resumed.set()

    async def _request_members(self, session: GatewaySession, d: dict[str, Any]) -> None:
        guild = self._guild(session, d.get("guild_id"))
        if guild is None:
            return  # Discord answers nothing for a guild the session does not serve
        members = list(guild.members.values())
        query = d.get("query")
        if d.get("user_ids"):
            wanted = {int(u) for u in d["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif query:
            members = [m for m in members if m.user.username.lower().startswith(query.lower())]
        limit = int(d.get("limit") or 0)
        if query and limit:
            members = members[:limit]
        chunks = [members[i : i + CHUNK_SIZE] for i in range(0, len(members), CHUNK_SIZE)] or [[]]
        for index, chunk in enumerate(chunks):
            payload: dict[str, Any] = {
                "guild_id": str(guild.guild_id),
                "members": [m.to_payload() for m in chunk],
                "chunk_index": index,
                "chunk_count": len(chunks),
            }
            if d.get("nonce") is not None:
                payload["nonce"] = d["nonce"]
            await session.send(0, payload, "GUILD_MEMBERS_CHUNK")

    def _guild(self, session: GatewaySession, raw: Any) -> Guild | None:
        try:
            guild = self.fake.world.guilds.get(int(raw))
        except (TypeError, ValueError):
            return None
        return guild if guild is not None and session.serves(guild.guild_id) else None

    async def dispatch(
        self, event: str, data: dict[str, Any], *, guild_id: int, intent: int = 0
    ) -> int:
        """Send a guild's dispatch to the sessions of its shard (that have ``intent``, if given)."""
        sent = 0
        for session in self.active:
            if intent and not session.intents & intent:
                continue
            if not session.serves(guild_id):
                continue
            await session.send(0, data, event)
            sent += 1
        return sent

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs at ``resume_gateway_url``."""
        self.resumed.clear()
        for session in self.active:
            await session.send(7)

    async def close(self) -> None:
        """Close every socket (going away)."""
        for session in list(self.sessions):
            await session.ws.close(code=1001, message=b"Fake Discord shutting down")


def _shard(raw: Any) -> tuple[int, int] | None:
    """Read IDENTIFY's ``shard`` (None when absent); ValueError when Discord would refuse it."""
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in raw)
    ):
        raise ValueError(f"shard must be [shard_id, shard_count], got {raw!r}")
    shard_id, count = raw
    if count < 1 or not 0 <= shard_id < count:
        raise ValueError(f"no shard {shard_id} among {count}")
    return shard_id, count
