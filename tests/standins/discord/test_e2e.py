"""The real discord.py client against the Discord stand-in (a tiny bot built in each test)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from imagine_standins.discord.server import FakeDiscord, point_discord_py_at


def png_bytes(size: int = 8) -> bytes:
    """Return a small PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), "red").save(buffer, "PNG")
    return buffer.getvalue()


class Seen:
    """What the tiny bot observed."""

    def __init__(self) -> None:
        self.clicks: list[int] = []
        self.errors: list[discord.HTTPException] = []
        self.modal_values: list[str] = []
        self.done = asyncio.Event()


class AgainView(discord.ui.View):
    """A view with one button that records who clicked it."""

    def __init__(self, seen: Seen) -> None:
        super().__init__(timeout=60)
        self.seen = seen

    @discord.ui.button(label="Again", custom_id="again", style=discord.ButtonStyle.primary)
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Record the click and answer ephemerally."""
        self.seen.clicks.append(interaction.user.id)
        await interaction.response.send_message("clicked", ephemeral=True)

    @discord.ui.button(label="Remix", custom_id="remix", style=discord.ButtonStyle.secondary)
    async def remix(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Open the remix modal."""
        await interaction.response.send_modal(RemixModal(self.seen))


class RemixModal(discord.ui.Modal, title="Remix"):
    """A modal with one prefilled text input."""

    prompt: discord.ui.TextInput = discord.ui.TextInput(
        label="Prompt", custom_id="prompt", default="a red fox", max_length=200
    )

    def __init__(self, seen: Seen) -> None:
        super().__init__(custom_id="remix-modal")
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Record the value and acknowledge."""
        self.seen.modal_values.append(self.prompt.value)
        await interaction.response.send_message(f"remixing {self.prompt.value}")


def make_bot(fake: FakeDiscord, seen: Seen, **kwargs: Any) -> commands.Bot:
    """Build a tiny bot with /draw (defer + file + button) and rule-breaking commands."""
    guild = discord.Object(fake.world.guild_id)
    intents = kwargs.pop("intents", discord.Intents.default())
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05, **kwargs)

    @bot.tree.command(name="draw", description="Draw something")
    @app_commands.describe(prompt="What to draw")
    async def draw(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(
            f"here is {prompt}",
            file=discord.File(io.BytesIO(png_bytes()), "x.png"),
            view=AgainView(seen),
        )

    @bot.tree.command(name="long", description="Send too much text")
    async def long(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        try:
            await interaction.followup.send("x" * 2001)
        except discord.HTTPException as exc:
            seen.errors.append(exc)
        seen.done.set()

    @bot.tree.command(name="big", description="Send a file over the limit")
    async def big(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        data = b"\0" * (interaction.filesize_limit + 1)
        try:
            await interaction.followup.send(file=discord.File(io.BytesIO(data), "big.bin"))
        except discord.HTTPException as exc:
            seen.errors.append(exc)
        seen.done.set()

    @bot.tree.command(name="slow", description="Answer too late")
    async def slow(interaction: discord.Interaction) -> None:
        fake.advance_time(3.5)  # as if the bot had blocked for 3.5 s before answering
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            seen.errors.append(exc)
        seen.done.set()

    async def setup_hook() -> None:
        bot.tree.copy_global_to(guild=guild)
        await bot.tree.sync(guild=guild)

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


@contextlib.asynccontextmanager
async def running(bot: commands.Bot, fake: FakeDiscord) -> AsyncIterator[commands.Bot]:
    """Start ``bot`` against ``fake`` and wait for IDENTIFY to be answered; close it after."""
    task = asyncio.create_task(bot.start(fake.token))
    try:
        waiter = asyncio.create_task(fake.wait_identified())
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            waiter.cancel()
            task.result()  # raises whatever killed bot.start()
            raise AssertionError("bot.start() returned before identifying")
        yield bot
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)


async def test_draw_defers_then_follows_up_with_file_and_button(fake_discord: FakeDiscord) -> None:
    """/draw: callback type 5, multipart followup with the PNG, the button reaches the bot."""
    fake, seen = fake_discord, Seen()
    async with running(make_bot(fake, seen), fake):
        assert fake.command_syncs == {fake.world.guild_id: 1}
        interaction = await fake.send_slash_command(fake.world.alice, "draw", {"prompt": "a fox"})
        followup = await fake.wait_for_followup(interaction)

        (callback,) = fake.callbacks_for(interaction)
        assert callback.status == 200
        assert callback.json == {"type": 5}
        assert callback.query == {"with_response": "1"}
        post = fake.requests_to("POST /webhooks/{application_id}/{token}")[0]
        assert post.multipart
        assert [(p.name, p.filename) for p in post.files] == [("files[0]", "x.png")]
        assert post.json["attachments"] == [{"id": 0, "filename": "x.png"}]

        # The followup resolved the deferred "thinking…" response, as Discord does.
        assert followup.id == interaction.original_message_id
        assert followup.content == "here is a fox" and not followup.loading
        (attachment,) = followup.attachments
        assert attachment.filename == "x.png" and attachment.size == len(png_bytes())
        assert (attachment.width, attachment.height) == (8, 8)
        assert followup.custom_ids == ["again", "remix"]

        served = await bot_http_get(attachment.url)
        assert served == png_bytes()

        click = await fake.click_button(followup, "again", fake.world.bob)
        await fake.wait_for_callback(click)
        assert seen.clicks == [fake.world.bob.id]
        reply = fake.original_for(click)
        assert reply is not None and reply.ephemeral and reply.content == "clicked"
    assert fake.unhandled == []


async def bot_http_get(url: str) -> bytes:
    """Download ``url`` the way Attachment.read() would (plain aiohttp)."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.read()


async def test_button_opens_modal_and_submit_reaches_the_bot(fake_discord: FakeDiscord) -> None:
    """Remix button → modal (type 9) → submit_modal → the modal's on_submit sees the value."""
    fake, seen = fake_discord, Seen()
    async with running(make_bot(fake, seen), fake):
        interaction = await fake.send_slash_command(fake.world.alice, "draw", {"prompt": "a fox"})
        message = await fake.wait_for_followup(interaction)
        click = await fake.click_button(message, "remix", fake.world.alice)
        callback = await fake.wait_for_callback(click)
        assert callback.json["type"] == 9
        assert click.modal is not None and click.modal["title"] == "Remix"

        submit = await fake.submit_modal(click, values={"prompt": "a blue fox"})
        await fake.wait_for_callback(submit)
        assert seen.modal_values == ["a blue fox"]
        reply = fake.original_for(submit)
        assert reply is not None and reply.content == "remixing a blue fox"


@pytest.mark.parametrize(
    ("command", "status", "code"),
    [("long", 400, 50035), ("big", 413, 40005)],
)
async def test_bot_breaking_a_rule_gets_discords_error(
    fake_discord: FakeDiscord, command: str, status: int, code: int
) -> None:
    """Too long content / too big a file: the followup raises HTTPException with the code."""
    fake, seen = fake_discord, Seen()
    async with running(make_bot(fake, seen), fake):
        await fake.send_slash_command(fake.world.bob, command, attachment_size_limit=64 * 1024)
        await asyncio.wait_for(seen.done.wait(), 5)
    (exc,) = seen.errors
    assert (exc.status, exc.code) == (status, code)


async def test_late_callback_is_an_unknown_interaction(fake_discord: FakeDiscord) -> None:
    """Answering after the 3 s window: 404 10062 reaches the bot as NotFound."""
    fake, seen = fake_discord, Seen()
    async with running(make_bot(fake, seen), fake):
        await fake.send_slash_command(fake.world.bob, "slow")
        await asyncio.wait_for(seen.done.wait(), 5)
    (exc,) = seen.errors
    assert isinstance(exc, discord.NotFound) and exc.code == 10062


async def test_resume_after_reconnect_request(fake_discord: FakeDiscord) -> None:
    """Op 7 RECONNECT: discord.py resumes at resume_gateway_url and keeps working."""
    fake, seen = fake_discord, Seen()
    async with running(make_bot(fake, seen), fake):
        await fake.gateway.request_reconnect()
        await asyncio.wait_for(fake.gateway.resumed.wait(), 5)
        interaction = await fake.send_slash_command(fake.world.alice, "draw", {"prompt": "owl"})
        await fake.wait_for_followup(interaction)
    assert len(fake.gateway.identify_payloads) == 1


async def test_members_intent_chunks_two_hundred_extra_members() -> None:
    """With the members intent discord.py asks for chunks (op 8) and gets every member."""
    async with FakeDiscord(extra_members=200) as fake:
        with point_discord_py_at(fake):
            intents = discord.Intents.default()
            intents.members = True
            bot = make_bot(fake, Seen(), intents=intents)
            async with running(bot, fake):
                await asyncio.wait_for(bot.wait_until_ready(), 5)
                guild = bot.get_guild(fake.world.guild_id)
                assert guild is not None and guild.chunked
                assert len(guild.members) == len(fake.world.members) == 208
                assert guild.me.guild_permissions.attach_files
                assert guild.get_member(fake.world.admin.id).guild_permissions.manage_guild


def test_point_discord_py_at_restores_and_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The redirect restores both attributes, and raises when discord.py drops one."""
    fake = FakeDiscord()
    fake.port = 1234
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    with point_discord_py_at(fake):
        assert discord.http.Route.BASE == "http://127.0.0.1:1234/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert before == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    monkeypatch.delattr(discord.http.Route, "BASE")
    with pytest.raises(AttributeError, match=r"Route\.BASE"), point_discord_py_at(fake):
        pass


async def test_discord_py_retries_after_injected_429s(fake_discord: FakeDiscord) -> None:
    """A 429 with Via and retry_after is retried by discord.py, for webhooks and bot REST."""
    fake, seen = fake_discord, Seen()
    fake.inject_429("POST /webhooks/{application_id}/{token}", 0.05)
    fake.inject_429("POST /channels/{channel_id}/messages", 0.05)
    bot = make_bot(fake, seen)
    async with running(bot, fake):
        interaction = await fake.send_slash_command(fake.world.alice, "draw", {"prompt": "cat"})
        await fake.wait_for_followup(interaction)
        channel = bot.get_channel(fake.world.channel.id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send(
            f"{fake.world.alice.mention} said @everyone",
            allowed_mentions=discord.AllowedMentions(everyone=False, users=False),
        )
    assert fake.served_429s == 2
    stored = fake.messages[sent.id]
    assert stored.content.endswith("@everyone") and stored.pinged_user_ids == set()
    assert [r.status for r in fake.requests_to("POST /channels/{channel_id}/messages")] == [
        429,
        200,
    ]


async def test_subcommand_group_resolved_options_and_permissions(fake_discord: FakeDiscord) -> None:
    """/imagine-admin quota member: resolved member/role/channel, per-member permissions."""
    fake, got = fake_discord, []
    bot = make_bot(fake, Seen())
    admin = app_commands.Group(name="imagine-admin", description="Administer /imagine")
    quota = app_commands.Group(name="quota", description="Quotas", parent=admin)

    @quota.command(name="member", description="Set a member's quota")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def quota_member(
        interaction: discord.Interaction,
        member: discord.Member,
        role: discord.Role,
        channel: discord.TextChannel,
        limit: app_commands.Range[int, 0, 100],
    ) -> None:
        got.append((member.id, role.name, channel.nsfw, limit))
        await interaction.response.send_message("ok", ephemeral=True)

    @quota_member.error
    async def denied(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        assert isinstance(error, app_commands.MissingPermissions)
        await interaction.response.send_message("denied", ephemeral=True)

    bot.tree.add_command(admin)
    world = fake.world
    options = {
        "member": world.bob,
        "role": world.artists_role,
        "channel": world.nsfw_channel,
        "limit": 5,
    }
    async with running(bot, fake):
        name = "imagine-admin quota member"
        allowed = await fake.send_slash_command(world.admin, name, options)
        refused = await fake.send_slash_command(world.carol, name, options)
        for interaction in (allowed, refused):
            await fake.wait_for_callback(interaction)
        with pytest.raises(ValueError, match="above max_value"):
            await fake.send_slash_command(world.admin, name, {**options, "limit": 101})
    assert got == [(world.bob.id, "Artists", True, 5)]
    assert fake.original_for(allowed).content == "ok"
    assert fake.original_for(refused).content == "denied"
