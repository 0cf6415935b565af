"""Two real `python -m bot` processes, each on its own Discord gateway shard, one database.

The stand-in has two guilds on different shards of 2. Each process connects only its shard
(SHARD_COUNT=2, SHARD_IDS=0 or 1), so each hears and answers only its guild's commands; any
process delivers any job, so a job whose process died is delivered by the other, into a
channel of a guild that process has never seen on its gateway.
"""

from __future__ import annotations

import functools

import pytest

from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord, InteractionRecord
from imagine_standins.discord.world import Guild, shard_of
from imagine_standins.kie import CREATE_TASK, Durations, FakeKie
from tests.e2e.money import assert_money_exact
from tests.e2e.stack import KIE_KEY, wait_until
from tests.e2e.subprocess_bot import (
    BotProcess,
    Spawn,
    bot_env,
    healthz,
    identified_sessions,
    results_for,
    seed_history,
    spawn_bot,  # noqa: F401 - fixture
    wait_job,
)

SHARDS = 2
LEASE_SECONDS = 2


async def _imagine(
    fake: FakeDiscord, guild: Guild, prompt: str, bot: BotProcess
) -> InteractionRecord:
    """Send /imagine as the guild's alice in its channel; wait until `bot` answered it."""
    interaction = await fake.send_slash_command(guild.alice, "imagine", {"prompt": prompt})
    await bot.until(fake.wait_for(lambda: interaction.acknowledged))
    return interaction


async def _healthy(bot: BotProcess) -> bool:
    status, body = await healthz(bot.web_url)
    return status == 200 and body["gateway"] is True


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(180)
async def test_each_process_answers_its_shard_and_either_delivers_any_job(
    fake_discord: FakeDiscord,
    pg: tuple[Database, str],
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    fake = fake_discord
    db, url = pg
    world = fake.world
    second = world.add_guild("Second Guild", shard=(1 - shard_of(world.guild_id, SHARDS), SHARDS))
    on_shard = {shard_of(g.guild_id, SHARDS): g for g in (world, second)}
    await seed_history(db, took=1.0)
    async with FakeKie(api_key=KIE_KEY, durations=Durations(0.05, 0.05, 0.3)) as kie:
        bots = []
        for shard_id in range(SHARDS):
            env = bot_env(
                fake,
                kie,
                database_url=url,
                SHARD_COUNT=str(SHARDS),
                SHARD_IDS=str(shard_id),
                JOB_LEASE_SECONDS=str(LEASE_SECONDS),
            )
            bots.append(await spawn_bot(env))
        await bots[0].until(identified_sessions(fake, SHARDS))
        assert sorted(p["shard"] for p in fake.gateway.identify_payloads) == [[0, 2], [1, 2]]
        for bot in bots:  # /healthz: every shard of the process is connected
            assert await bot.until(wait_until(functools.partial(_healthy, bot))) is True
        store = JobStore(db)

        # Each guild's command reaches only its shard's process, which admits the job (the
        # job's lease names the process: host and web port) and delivers it.
        for shard_id, guild in on_shard.items():
            bot = bots[shard_id]
            interaction = await _imagine(fake, guild, f"a lighthouse on shard {shard_id}", bot)
            job = await bot.until(wait_job(db, interaction, timeout=30), timeout=40)
            assert job.state is JobState.DELIVERED, job.fail_message
            owner, _ = await store.lease_of(job.id)
            assert owner is None or owner.endswith(f":{bot.env['WEB_PORT']}"), owner
            [result] = results_for(fake, job.id)
            assert result.guild_id == guild.guild_id

        # Shard 0's process dies while its job is at kie; tokens expire meanwhile, so the
        # result must go to the channel of a guild the other process has no gateway cache of.
        fake.token_lifetime = 1.0
        kie.durations = Durations(0.05, 0.05, 3.0)
        doomed, heir = bots[0], bots[1]
        guild = on_shard[0]
        interaction = await _imagine(fake, guild, "a slow lighthouse", doomed)
        job = await doomed.until(wait_job(db, interaction, lambda j: j.state is JobState.RUNNING))
        owner, _ = await store.lease_of(job.id)
        assert owner is not None and owner.endswith(f":{doomed.env['WEB_PORT']}")
        await doomed.kill()
        job = await heir.until(wait_job(db, interaction, timeout=60), timeout=70)
        assert job.state is JobState.DELIVERED, job.fail_message
        assert job.delivered_via == "channel"
        [result] = results_for(fake, job.id)
        assert result.kind == "channel"
        assert (result.guild_id, result.channel_id) == (guild.guild_id, guild.channel.id)
        assert f"<@{guild.alice.id}>" in result.content
        # Posted by the channel's id alone: no process looked the channel up.
        assert not [r for r in fake.requests if r.key == "GET /channels/{channel_id}"]

        assert len(kie.calls(CREATE_TASK)) == 3  # none sent twice
        await assert_money_exact(fake, kie, db, guild_id=list(world.guilds))
        assert await heir.stop() == 0
        assert heir.bad_lines() == [], heir.stderr()
