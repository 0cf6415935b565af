"""A raw HTTP/websocket client for testing the Discord stand-in itself (no discord.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from imagine_standins.discord.records import InteractionRecord
from imagine_standins.discord.server import FakeDiscord
from imagine_standins.discord.world import Member

RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-After",
    "X-RateLimit-Bucket",
)


@dataclass
class Answer:
    """A response from the stand-in."""

    status: int
    headers: Any
    body: Any

    @property
    def code(self) -> int | None:
        """Return the JSON error code."""
        return self.body.get("code") if isinstance(self.body, dict) else None

    def error_at(self, *path: str) -> list[dict[str, str]]:
        """Return the ``_errors`` list at ``path`` in the error tree (empty if none)."""
        node = self.body.get("errors", {})
        for part in path:
            node = node.get(part, {})
        return node.get("_errors", [])


@dataclass
class RawClient:
    """Talks to the stand-in like a bot would, minus discord.py."""

    fake: FakeDiscord
    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    hello: dict[str, Any]
    ready: dict[str, Any]
    guild_create: dict[str, Any]

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        files: list[tuple[str, bytes]] | None = None,
        auth: bool | str = True,
        params: dict[str, str] | None = None,
    ) -> Answer:
        """Send one request; ``files`` makes it multipart (payload_json + files[n])."""
        headers = {}
        if auth is True:
            headers["Authorization"] = f"Bot {self.fake.token}"
        elif isinstance(auth, str):
            headers["Authorization"] = auth
        data: Any = None
        if files is not None:
            form = aiohttp.FormData(quote_fields=False)
            form.add_field(
                "payload_json", json.dumps(json_body or {}), content_type="application/json"
            )
            for i, (name, blob) in enumerate(files):
                form.add_field(
                    f"files[{i}]", blob, filename=name, content_type="application/octet-stream"
                )
            data = form
        elif json_body is not None:
            data = json.dumps(json_body)
            headers["Content-Type"] = "application/json"
        async with self.session.request(
            method, self.fake.api_base_url + path, data=data, headers=headers, params=params
        ) as response:
            raw = await response.read()
            body = json.loads(raw) if raw else None
            return Answer(response.status, response.headers, body)

    async def send(self, channel_id: int, payload: dict[str, Any], **kw: Any) -> Answer:
        """POST a channel message."""
        return await self.request(
            "POST", f"/channels/{channel_id}/messages", json_body=payload, **kw
        )

    async def command(
        self, member: Member | None = None, name: str = "draw", **kw: Any
    ) -> InteractionRecord:
        """Dispatch a slash command and read its INTERACTION_CREATE off the socket."""
        record = await self.fake.send_slash_command(member or self.fake.world.alice, name, **kw)
        while True:
            frame = await self.ws.receive_json(timeout=5)
            if frame["t"] == "INTERACTION_CREATE":
                assert frame["d"]["id"] == str(record.id)
                return record

    async def callback(
        self,
        interaction: InteractionRecord,
        body: dict[str, Any],
        *,
        with_response: bool = True,
        files: list[tuple[str, bytes]] | None = None,
    ) -> Answer:
        """POST an interaction callback."""
        return await self.request(
            "POST",
            f"/interactions/{interaction.id}/{interaction.token}/callback",
            json_body=body,
            files=files,
            auth=False,
            params={"with_response": "1"} if with_response else None,
        )

    async def followup(
        self,
        interaction: InteractionRecord,
        payload: dict[str, Any],
        files: list[tuple[str, bytes]] | None = None,
    ) -> Answer:
        """POST a followup (``?wait=1``)."""
        app = self.fake.world.application_id
        return await self.request(
            "POST",
            f"/webhooks/{app}/{interaction.token}",
            json_body=payload,
            files=files,
            auth=False,
            params={"wait": "1"},
        )

    async def webhook_message(
        self,
        method: str,
        interaction: InteractionRecord,
        message_id: str = "@original",
        payload: dict[str, Any] | None = None,
        files: list[tuple[str, bytes]] | None = None,
    ) -> Answer:
        """GET/PATCH/DELETE an interaction webhook message."""
        app = self.fake.world.application_id
        return await self.request(
            method,
            f"/webhooks/{app}/{interaction.token}/messages/{message_id}",
            json_body=payload,
            files=files,
            auth=False,
        )


@pytest.fixture
async def raw(fake_discord: FakeDiscord) -> AsyncIterator[RawClient]:
    """A raw client that has identified on the gateway (so interactions can be dispatched)."""
    fake = fake_discord
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        hello = await ws.receive_json(timeout=5)
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1, "properties": {}}})
        ready = await ws.receive_json(timeout=5)
        guild_create = await ws.receive_json(timeout=5)
        yield RawClient(fake, session, ws, hello, ready, guild_create)
        await ws.close()
