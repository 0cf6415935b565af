"""Several real `python -m bot` processes on one database, and one that is refused.

- PostgreSQL: two processes, one killed with -9 while its jobs run at kie; the other takes
  them over once their leases run out (JOB_LEASE_SECONDS, short here) and delivers each
  exactly once, with the money exact.
- PostgreSQL, the issue's run: three processes on three gateway shards, 100 /imagine across
  three guilds (one per shard), one process killed with -9 mid-run: every job delivered
  exactly once, quotas and credits exact, kie's limits never exceeded.
- SQLite serves one process: a second on the same file stops at start with one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.jobs.models import JobState
from bot.jobs.store import JobStore
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord, InteractionRecord
from imagine_standins.discord.world import shard_of
from imagine_standins.kie import CREATE_TASK, RECORD_INFO, Durations, FakeKie
from tests.e2e.money import assert_money_exact
from tests.e2e.stack import KIE_KEY, wait_until
from tests.e2e.subprocess_bot import (
    Spawn,
    bot_env,
    identified_sessions,
    results_for,
    seed_history,
    spawn_bot,  # noqa: F401 - fixture
    wait_job,
)

LEASE_SECONDS = 3


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(180)
async def test_a_killed_process_jobs_are_delivered_once_by_the_other(
    fake_discord: FakeDiscord,
    pg: tuple[Database, str],
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    db, url = pg
    await seed_history(db, took=4.0)
    async with FakeKie(api_key=KIE_KEY, durations=Durations(0.5, 0.5, 4.0)) as kie:
        extra = {"JOB_LEASE_SECONDS": str(LEASE_SECONDS)}
        doomed = await spawn_bot(bot_env(fake_discord, kie, database_url=url, **extra))
        await doomed.until(identified_sessions(fake_discord, 1))
        world = fake_discord.world
        interactions = [
            await fake_discord.send_slash_command(
                member, "imagine", {"prompt": f"a lighthouse, take {n} by {member.id}"}
            )
            for n in range(2)
            for member in world.ordinary_members
        ]
        for interaction in interactions:
            await doomed.until(fake_discord.wait_for(lambda i=interaction: i.acknowledged))
        jobs = [
            await doomed.until(wait_job(db, i, lambda j: j.state is JobState.RUNNING))
            for i in interactions
        ]
        # The heir starts now, so every job is the doomed one's; gateway events for it would
        # go to both unsharded sessions, so nothing more is sent.
        heir = await spawn_bot(bot_env(fake_discord, kie, database_url=url, **extra))
        await heir.until(identified_sessions(fake_discord, 2))
        store = JobStore(db)
        owners = {(await store.lease_of(job.id))[0] for job in jobs}
        assert len(owners) == 1  # the doomed process holds them all, renewing its leases
        await doomed.kill()

        async def moved_on() -> bool:
            now_owned = [(await store.lease_of(job.id))[0] for job in jobs]
            return not set(now_owned) & owners

        await heir.until(wait_until(moved_on, timeout=LEASE_SECONDS + 10, interval=0.1))
        for interaction in interactions:
            job = await heir.until(wait_job(db, interaction, timeout=60), timeout=70)
            assert job.state is JobState.DELIVERED, job.fail_message
            assert len(results_for(fake_discord, job.id)) == 1  # posted once
        assert len(kie.calls(CREATE_TASK)) == len(interactions)  # never resent
        await assert_money_exact(fake_discord, kie, db)
        assert await heir.stop() == 0
        assert heir.bad_lines() == [], heir.stderr()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(300)
async def test_three_sharded_processes_deliver_a_hundred_jobs_once_through_a_kill(
    fake_discord: FakeDiscord,
    pg: tuple[Database, str],
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    fake, (db, url) = fake_discord, pg
    shards = 3
    world = fake.world
    guilds = {shard_of(world.guild_id, shards): world}
    for shard_id in range(shards):
        if shard_id not in guilds:
            guilds[shard_id] = world.add_guild(f"Guild {shard_id}", shard=(shard_id, shards))
    await seed_history(db, took=2.5)
    async with FakeKie(api_key=KIE_KEY, durations=Durations(0.2, 0.3, 2.0)) as kie:
        bots = []
        for shard_id in range(shards):
            env = bot_env(
                fake,
                kie,
                database_url=url,
                SHARD_COUNT=str(shards),
                SHARD_IDS=str(shard_id),
                JOB_LEASE_SECONDS=str(LEASE_SECONDS),
                MAX_QUEUED_PER_MEMBER="10",
            )
            bots.append(await spawn_bot(env))
        await bots[0].until(identified_sessions(fake, shards))
        sent: list[tuple[int, InteractionRecord]] = []
        for n in range(100):
            shard_id = n % shards
            guild = guilds[shard_id]
            member = guild.ordinary_members[(n // shards) % len(guild.ordinary_members)]
            interaction = await fake.send_slash_command(
                member, "imagine", {"prompt": f"lighthouse {n} of the hundred"}
            )
            sent.append((shard_id, interaction))
        for shard_id, interaction in sent:
            await bots[shard_id].until(fake.wait_for(lambda i=interaction: i.acknowledged))
        # Mid-run: some jobs delivered, most still in line or at kie.
        store = JobStore(db)

        async def some_delivered() -> bool:
            rows = await db.fetch("SELECT state FROM jobs")
            return sum(r["state"] == "delivered" for r in rows) >= 15

        await bots[0].until(wait_until(some_delivered, timeout=60, interval=0.2), timeout=70)
        doomed = bots[1]
        await doomed.kill()
        # It died holding unfinished jobs (its own shard's), which the others must finish.
        orphans = await db.fetch(
            "SELECT id FROM jobs WHERE lease_owner LIKE $1"
            " AND state IN ('queued', 'submitting', 'running', 'delivering')",
            f"%:{doomed.env['WEB_PORT']}",
        )
        assert orphans
        for shard_id, interaction in sent:
            alive = bots[0] if shard_id == 1 else bots[shard_id]
            job = await alive.until(wait_job(db, interaction, timeout=120), timeout=130)
            assert job.state is JobState.DELIVERED, job.fail_message
            assert len(results_for(fake, job.id)) == 1  # posted once
        assert len(kie.calls(CREATE_TASK)) == len(sent)  # one createTask each, none resent
        assert [r for r in kie.requests if r.code == 429] == []
        assert kie.max_in_window(CREATE_TASK, 10.0) <= 20
        assert kie.max_in_window(RECORD_INFO, 1.0) <= 10
        await assert_money_exact(fake, kie, db, guild_id=[g.guild_id for g in guilds.values()])
        for job_id in (r["id"] for r in orphans):
            owner, _ = await store.lease_of(job_id)
            assert owner is not None and not owner.endswith(f":{doomed.env['WEB_PORT']}")
        for bot in (bots[0], bots[2]):
            assert await bot.stop() == 0
            assert bot.bad_lines() == [], bot.stderr()


@pytest.mark.slow
async def test_a_second_process_on_one_sqlite_file_is_refused_with_one_line(
    fake_discord: FakeDiscord,
    kie: FakeKie,
    tmp_path: Path,
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    env = bot_env(fake_discord, kie, database_path=tmp_path / "bot.db")
    first = await spawn_bot(env)
    await first.until(identified_sessions(fake_discord, 1))
    second = await spawn_bot(bot_env(fake_discord, kie, database_path=tmp_path / "bot.db"))
    assert await second.until(second.proc.wait()) == 1
    lines = second.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: another bot process is already using")
    assert str(tmp_path / "bot.db") in lines[0]
    assert first.returncode is None  # the first one goes on
    assert await first.stop() == 0
    # Once the first has stopped (or died), the file is free again.
    third = await spawn_bot(bot_env(fake_discord, kie, database_path=tmp_path / "bot.db"))
    await third.until(identified_sessions(fake_discord, 2))
    await third.kill()
    fourth = await spawn_bot(bot_env(fake_discord, kie, database_path=tmp_path / "bot.db"))
    await fourth.until(identified_sessions(fake_discord, 3))
    assert await fourth.stop() == 0
