"""Restarts: commands sync only when changed; a kill -9 never loses or re-pays a job."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from discord import app_commands

from bot.imagine_bot import ImagineBot
from bot.jobs.models import Job, JobState
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord, InteractionRecord
from imagine_standins.kie import CREATE_TASK, Durations, FakeKie
from tests.e2e.stack import start_stack, stop_stack, wait_until
from tests.e2e.subprocess_bot import (
    BotProcess,
    Spawn,
    bot_env,
    identified_sessions,
    results_for,
    seed_history,
    spawn_bot,  # noqa: F401 - fixture
    wait_job,
)

GLOBAL_PUT = "PUT /applications/{application_id}/commands"
GUILD_PUT = "PUT /applications/{application_id}/guilds/{guild_id}/commands"


@app_commands.command(name="ping", description="Check that the bot answers.")
async def _ping(interaction: discord.Interaction[ImagineBot]) -> None:
    await interaction.response.send_message("pong", ephemeral=True)


async def _start_and_stop(fake: FakeDiscord, kie: FakeKie, db: Database, **env: str) -> None:
    stack = await start_stack(fake, kie, db, **env)
    await stop_stack(stack)


async def test_commands_sync_once_then_only_when_changed(
    fake_discord: FakeDiscord, kie: FakeKie, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart with the same commands does not sync; a changed command syncs once more."""
    await _start_and_stop(fake_discord, kie, sqlite_db)
    assert fake_discord.command_syncs == {"global": 1}
    [first] = fake_discord.requests_to(GLOBAL_PUT)
    assert first.status == 200, first.response  # the stand-in's command rules accepted it
    imagine = next(c for c in first.json if c["name"] == "imagine")
    assert [o["name"] for o in imagine["options"]] == [
        "prompt",
        "size",
        "resolution",
        "images",
        "seed",
        "image",
        "image2",
        "image3",
    ]

    await _start_and_stop(fake_discord, kie, sqlite_db)
    assert fake_discord.command_syncs == {"global": 1}
    assert len(fake_discord.requests_to(GLOBAL_PUT)) == 1

    # A new release adds a command. (The cog's module is imported afresh by every start,
    # so the change is made to the tree in setup_hook, before the bot compares and syncs.)
    setup_hook = ImagineBot.setup_hook

    async def with_extra_command(bot: ImagineBot) -> None:
        bot.tree.add_command(_ping)
        await setup_hook(bot)

    monkeypatch.setattr(ImagineBot, "setup_hook", with_extra_command)
    await _start_and_stop(fake_discord, kie, sqlite_db)
    assert fake_discord.command_syncs == {"global": 2}
    first, second = fake_discord.requests_to(GLOBAL_PUT)
    assert second.status == 200, second.response
    assert {"imagine", "ping"} <= {c["name"] for c in second.json}
    await _start_and_stop(fake_discord, kie, sqlite_db)
    assert fake_discord.command_syncs == {"global": 2}
    assert fake_discord.requests_to(GUILD_PUT) == []
    assert fake_discord.unhandled == []


async def test_dev_guild_commands_sync_to_the_guild_route(
    fake_discord: FakeDiscord, kie: FakeKie, sqlite_db: Database
) -> None:
    """With DEV_GUILD_ID the commands go to that guild, once; the global scope is separate."""
    guild_id = fake_discord.world.guild_id
    await _start_and_stop(fake_discord, kie, sqlite_db, DEV_GUILD_ID=str(guild_id))
    await _start_and_stop(fake_discord, kie, sqlite_db, DEV_GUILD_ID=str(guild_id))
    assert fake_discord.command_syncs == {guild_id: 1}
    [put] = fake_discord.requests_to(GUILD_PUT)
    assert put.status == 200, put.response
    assert put.params["guild_id"] == str(guild_id)
    assert "imagine" in {c["name"] for c in put.json}
    assert fake_discord.requests_to(GLOBAL_PUT) == []

    await _start_and_stop(fake_discord, kie, sqlite_db)
    assert fake_discord.command_syncs == {guild_id: 1, "global": 1}


async def _bot_with_a_running_job(
    discord: FakeDiscord,
    kie: FakeKie,
    db: Database,
    db_path: Path,
    spawn_bot: Spawn,  # noqa: F811
    prompt: str,
) -> tuple[BotProcess, InteractionRecord, Job]:
    """Start a subprocess bot and wait until its /imagine job is generating at kie (~3 s)."""
    kie.durations = Durations(0.2, 0.2, 3.0)
    await seed_history(db, took=3.4)  # so the poll plan expects ~3 s jobs
    bot = await spawn_bot(bot_env(discord, kie, database_path=db_path))
    await bot.until(identified_sessions(discord, 1))
    interaction = await discord.send_slash_command(
        discord.world.alice, "imagine", {"prompt": prompt}
    )
    job = await bot.until(
        wait_job(db, interaction, lambda j: j.state is JobState.RUNNING, timeout=10)
    )
    return bot, interaction, job


async def test_kill_9_while_running_resumes_and_delivers_once(
    fake_discord: FakeDiscord,
    kie: FakeKie,
    sqlite_db: Database,
    tmp_path: Path,
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    """kill -9 of the bot during generation → restart → delivered once, one createTask."""
    db_path = tmp_path / "bot.db"
    first, interaction, job = await _bot_with_a_running_job(
        fake_discord, kie, sqlite_db, db_path, spawn_bot, "a paper boat on a pond"
    )
    await first.kill()
    assert results_for(fake_discord, job.id) == []

    second = await spawn_bot(bot_env(fake_discord, kie, database_path=db_path))  # same db
    await second.until(identified_sessions(fake_discord, 2))
    job = await second.until(wait_job(sqlite_db, interaction))
    assert job.state is JobState.DELIVERED, job.fail_message
    assert await second.stop() == 0  # anything still under way is posted before it exits
    assert second.bad_lines() == [], second.stderr()

    # Through the interaction's webhook or as a channel message: either way, exactly one.
    [message] = results_for(fake_discord, job.id)
    assert message.channel_id == fake_discord.world.channel.id
    assert len(message.attachments) == 1
    assert job.delivered_via in ("interaction", "channel")
    assert job.images_delivered == 1
    assert job.parts_delivered == 1
    assert len(kie.calls(CREATE_TASK)) == 1
    assert len(kie.tasks_created()) == 1
    assert job.task_id == kie.tasks_created()[0].task_id


async def test_kill_9_while_submitting_is_not_resent_and_refunds(
    fake_discord: FakeDiscord,
    kie: FakeKie,
    sqlite_db: Database,
    tmp_path: Path,
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    """kill -9 while createTask is unanswered → restart → not resent; failed, member told."""
    kie.hang_create = 60.0  # kie makes the task but the answer never reaches the bot
    db_path = tmp_path / "bot.db"
    first = await spawn_bot(bot_env(fake_discord, kie, database_path=db_path))
    await first.until(identified_sessions(fake_discord, 1))
    interaction = await fake_discord.send_slash_command(
        fake_discord.world.alice, "imagine", {"prompt": "a kite over the dunes"}
    )

    async def create_task_arrived() -> bool:
        return len(kie.calls(CREATE_TASK)) == 1

    await first.until(wait_until(create_task_arrived, timeout=10))
    job = await wait_job(sqlite_db, interaction, lambda j: True)
    assert job.state is JobState.SUBMITTING
    await first.kill()
    kie.hang_create = None

    second = await spawn_bot(bot_env(fake_discord, kie, database_path=db_path))  # same db
    await second.until(identified_sessions(fake_discord, 2))
    job = await second.until(wait_job(sqlite_db, interaction))
    assert job.state is JobState.FAILED
    assert job.fail_code == "unknown"
    assert job.task_id is None

    def told() -> str | None:
        original = fake_discord.original_for(interaction)
        embeds = original.embeds if original is not None else []
        text = " ".join(str(e.get("description", "")) for e in embeds)
        return text if "Nothing was taken from your quota" in text else None

    text = await second.until(fake_discord.wait_for(told, timeout=10))
    assert "not retried" in text
    assert await second.stop() == 0
    assert second.bad_lines() == [], second.stderr()
    assert len(kie.calls(CREATE_TASK)) == 1
    assert results_for(fake_discord, job.id) == []


async def test_sigterm_during_generation_then_restart_delivers_once(
    fake_discord: FakeDiscord,
    kie: FakeKie,
    sqlite_db: Database,
    tmp_path: Path,
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    """SIGTERM mid-generation exits 0 and keeps the job; the next start delivers it once."""
    db_path = tmp_path / "bot.db"
    first, interaction, job = await _bot_with_a_running_job(
        fake_discord, kie, sqlite_db, db_path, spawn_bot, "a kite over dunes"
    )
    assert await first.stop() == 0
    assert first.bad_lines() == [], first.stderr()
    kept = await wait_job(sqlite_db, interaction, lambda j: j.state is JobState.RUNNING)
    assert kept.task_id == job.task_id

    second = await spawn_bot(bot_env(fake_discord, kie, database_path=db_path))
    await second.until(identified_sessions(fake_discord, 2))
    job = await second.until(wait_job(sqlite_db, interaction))
    assert job.state is JobState.DELIVERED, job.fail_message
    assert await second.stop() == 0
    assert len(results_for(fake_discord, job.id)) == 1
    assert len(kie.calls(CREATE_TASK)) == 1
