"""Sharding as Discord does it: IDENTIFY's ``shard``, a guild's events on its shard only."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands

from imagine_standins.discord.server import FakeDiscord, point_discord_py_at
from imagine_standins.discord.world import Guild, shard_of


class Shard:
    """One raw gateway connection that identified with ``shard``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ready: dict[str, Any] = {}
        self.guild_creates: list[dict[str, Any]] = []

    async def next_dispatch(self, timeout: float = 5.0) -> dict[str, Any]:
        """Return the next dispatch frame (op 0)."""
        while True:
            frame = await self.ws.receive_json(timeout=timeout)
            if frame["op"] == 0:
                return frame


async def identify(
    session: aiohttp.ClientSession,
    fake: FakeDiscord,
    shard: Any,
    *,
    guilds: int,
    intents: int = 1,
) -> Shard:
    """Connect, IDENTIFY with ``shard``, read READY and ``guilds`` GUILD_CREATEs."""
    ws = await session.ws_connect(fake.gateway_url + "?v=10&encoding=json")
    conn = Shard(ws)
    await ws.receive_json(timeout=5)  # HELLO
    payload: dict[str, Any] = {"token": fake.token, "intents": intents, "properties": {}}
    if shard is not None:
        payload["shard"] = shard
    await ws.send_json({"op": 2, "d": payload})
    conn.ready = await conn.next_dispatch()
    for _ in range(guilds):
        conn.guild_creates.append(await conn.next_dispatch())
    return conn


@pytest.fixture
def two_guilds(fake_discord: FakeDiscord) -> tuple[FakeDiscord, Guild]:
    """The stand-in with a second guild: the first on one shard of 2, the second on the other."""
    fake = fake_discord
    other = fake.world.add_guild("Second Guild", shard=(1 - shard_of(fake.world.guild_id, 2), 2))
    return fake, other


def test_add_guild_lands_on_the_shard_asked_for(fake_discord: FakeDiscord) -> None:
    """Discord's formula (guild_id >> 22) % count puts each added guild on its shard."""
    world = fake_discord.world
    for count in (2, 3, 5):
        for shard_id in range(count):
            guild = world.add_guild(f"g{shard_id}/{count}", shard=(shard_id, count))
            assert (guild.guild_id >> 22) % count == shard_id
    with pytest.raises(ValueError, match="no shard 2 among 2"):
        world.add_guild("nowhere", shard=(2, 2))


async def test_each_shard_gets_only_its_guilds_events(
    two_guilds: tuple[FakeDiscord, Guild],
) -> None:
    """READY and GUILD_CREATE list the shard's guilds; interactions and messages of a guild go
    to its shard's connection and to no other."""
    fake, other = two_guilds
    first = fake.world
    count = 2
    async with aiohttp.ClientSession() as session:
        shards = [await identify(session, fake, [i, count], guilds=1) for i in range(count)]
        on = {shard_of(g.guild_id, count): g for g in (first, other)}
        for shard_id, conn in enumerate(shards):
            guild = on[shard_id]
            assert conn.ready["d"]["shard"] == [shard_id, count]
            assert [g["id"] for g in conn.ready["d"]["guilds"]] == [str(guild.guild_id)]
            assert conn.guild_creates[0]["d"]["id"] == str(guild.guild_id)
            assert {c["id"] for c in conn.guild_creates[0]["d"]["channels"]} == {
                str(c) for c in guild.channels
            }

        for shard_id, guild in on.items():
            record = await fake.send_slash_command(guild.alice, "draw", {"x": 1})
            frame = await shards[shard_id].next_dispatch()
            assert frame["t"] == "INTERACTION_CREATE"
            assert frame["d"]["id"] == str(record.id)
            assert frame["d"]["guild_id"] == str(guild.guild_id)
            assert frame["d"]["channel_id"] == str(guild.channel.id)
            # The other shard hears nothing of it.
            with pytest.raises(TimeoutError):
                await shards[1 - shard_id].next_dispatch(timeout=0.2)

        # A bot message in a guild's channel: MESSAGE_CREATE on that guild's shard only
        # (to sessions with the guild messages intent, 1 << 9).
        for conn in shards:
            await conn.ws.close()
        intents = 1 | (1 << 9)
        shards = [
            await identify(session, fake, [i, count], guilds=1, intents=intents)
            for i in range(count)
        ]
        headers = {"Authorization": f"Bot {fake.token}", "Content-Type": "application/json"}
        for shard_id, guild in on.items():
            url = f"{fake.api_base_url}/channels/{guild.channel.id}/messages"
            async with session.post(url, json={"content": "hi"}, headers=headers) as resp:
                assert resp.status == 200
                body = await resp.json()
            assert body["guild_id"] == str(guild.guild_id)
            frame = await shards[shard_id].next_dispatch()
            assert frame["t"] == "MESSAGE_CREATE" and frame["d"]["id"] == body["id"]
            with pytest.raises(TimeoutError):
                await shards[1 - shard_id].next_dispatch(timeout=0.2)
        for conn in shards:
            await conn.ws.close()


async def test_without_shard_one_session_gets_every_guild(
    two_guilds: tuple[FakeDiscord, Guild],
) -> None:
    """An IDENTIFY without ``shard`` is shard [0, 1]: every guild, every guild's events."""
    fake, other = two_guilds
    async with aiohttp.ClientSession() as session:
        conn = await identify(session, fake, None, guilds=2)
        assert "shard" not in conn.ready["d"]
        assert {g["d"]["id"] for g in conn.guild_creates} == {
            str(fake.world.guild_id),
            str(other.guild_id),
        }
        for guild in (fake.world, other):
            record = await fake.send_slash_command(guild.bob, "draw")
            assert (await conn.next_dispatch())["d"]["id"] == str(record.id)
        await conn.ws.close()


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], "0,1", [0, True], [0.0, 1]])
async def test_an_invalid_shard_is_closed_4010(fake_discord: FakeDiscord, shard: Any) -> None:
    """IDENTIFY with an invalid shard (id ≥ count, count < 1, not two integers): 4010."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fake_discord.gateway_url) as ws,
    ):
        await ws.receive_json(timeout=5)
        payload = {"token": fake_discord.token, "intents": 1, "properties": {}, "shard": shard}
        await ws.send_json({"op": 2, "d": payload})
        await ws.receive(timeout=5)
        assert ws.close_code == 4010
    assert not fake_discord.identified.is_set()


async def test_too_many_guilds_for_one_session_is_closed_4011(
    two_guilds: tuple[FakeDiscord, Guild],
) -> None:
    """A session that would serve more guilds than Discord allows one session: 4011; sharded
    so that each shard holds few enough, the same bot connects."""
    fake, _ = two_guilds
    fake.max_guilds_per_session = 1
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(fake.gateway_url) as ws:
            await ws.receive_json(timeout=5)
            payload = {"token": fake.token, "intents": 1, "properties": {}, "shard": [0, 1]}
            await ws.send_json({"op": 2, "d": payload})
            await ws.receive(timeout=5)
            assert ws.close_code == 4011
        conn = await identify(session, fake, [0, 2], guilds=1)
        assert len(conn.ready["d"]["guilds"]) == 1
        await conn.ws.close()


async def test_gateway_bot_recommends_shards_by_guild_count(
    two_guilds: tuple[FakeDiscord, Guild],
) -> None:
    """``GET /gateway/bot`` recommends one shard per ``guilds_per_recommended_shard`` guilds."""
    fake, _ = two_guilds
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        for per, want in ((1000, 1), (1, 2)):
            fake.guilds_per_recommended_shard = per
            async with session.get(f"{fake.api_base_url}/gateway/bot", headers=headers) as resp:
                body = await resp.json()
            assert body["shards"] == want and body["url"] == fake.gateway_url


async def test_autosharded_bots_each_answer_their_own_guild(
    two_guilds: tuple[FakeDiscord, Guild],
) -> None:
    """Two discord.py AutoShardedBots (shard_ids [0] and [1] of 2): each receives and answers
    only the commands of the guild on its shard."""
    fake, other = two_guilds
    answered: dict[int, list[int]] = {0: [], 1: []}

    def build(shard_id: int) -> commands.AutoShardedBot:
        intents = discord.Intents.none()
        intents.guilds = True
        bot = commands.AutoShardedBot(
            command_prefix="!", intents=intents, shard_count=2, shard_ids=[shard_id]
        )

        @bot.tree.command(name="draw", description="draw")
        async def draw(interaction: discord.Interaction) -> None:
            answered[shard_id].append(interaction.guild_id or 0)
            await interaction.response.send_message(f"shard {shard_id}")

        _ = draw
        return bot

    with point_discord_py_at(fake):
        bots = [build(0), build(1)]
        tasks = [asyncio.create_task(b.start(fake.token)) for b in bots]
        try:
            await fake.wait_for(lambda: len(fake.gateway.active) == 2, timeout=10)
            on = {shard_of(g.guild_id, 2): g for g in (fake.world, other)}
            for shard_id, guild in on.items():
                record = await fake.send_slash_command(guild.carol, "draw")
                callback = await fake.wait_for_callback(record)
                assert callback.status == 200
                assert callback.json is not None
                assert callback.json["data"]["content"] == f"shard {shard_id}"
            assert answered == {s: [g.guild_id] for s, g in on.items()}
            for shard_id, bot in enumerate(bots):
                assert [g.id for g in bot.guilds] == [on[shard_id].guild_id]
        finally:
            for bot in bots:
                await bot.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
