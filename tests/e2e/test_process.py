"""The real entry point: `python -m bot` as a process, configured by its environment alone."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.jobs.models import JobState
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord
from imagine_standins.kie import CREATE_TASK, FakeKie
from tests.e2e.stack import KIE_KEY, wait_until
from tests.e2e.subprocess_bot import (
    Spawn,
    bot_env,
    healthz,
    identified_sessions,
    results_for,
    seed_history,
    spawn_bot,  # noqa: F401 - fixture
    wait_job,
)


async def test_bot_process_serves_imagine_and_stops_cleanly_on_sigterm(
    fake_discord: FakeDiscord,
    kie: FakeKie,
    sqlite_db: Database,
    tmp_path: Path,
    spawn_bot: Spawn,  # noqa: F811
) -> None:
    """`python -m bot` logs in from env alone, delivers /imagine, is healthy, exits 0 on SIGTERM."""
    await seed_history(sqlite_db, took=0.3)
    bot = await spawn_bot(bot_env(fake_discord, kie, database_path=tmp_path / "bot.db"))
    await bot.until(identified_sessions(fake_discord, 1))
    [identify] = fake_discord.gateway.identify_payloads
    assert identify["token"] == fake_discord.token

    # The process synced its commands itself, so the stand-in checks the options strictly.
    interaction = await fake_discord.send_slash_command(
        fake_discord.world.alice, "imagine", {"prompt": "a lighthouse at dusk"}
    )
    await bot.until(fake_discord.wait_for(lambda: interaction.acknowledged, timeout=10))
    job = await bot.until(wait_job(sqlite_db, interaction))
    assert job.state is JobState.DELIVERED, job.fail_message
    [message] = results_for(fake_discord, job.id)
    assert len(message.attachments) == 1
    assert message.pinged_user_ids == {fake_discord.world.alice.id}
    [task] = kie.tasks_created()
    assert task.input["prompt"] == "a lighthouse at dusk"
    assert len(kie.calls(CREATE_TASK)) == 1

    async def healthy() -> object:
        status, body = await healthz(bot.web_url)
        return body if status == 200 else None

    body = await bot.until(wait_until(healthy, timeout=15, interval=0.05))
    assert body == {"gateway": True, "database": True}

    assert await bot.stop() == 0
    log = bot.stderr()
    assert bot.bad_lines() == [], log
    assert "stopped" in log
    for secret in (fake_discord.token, KIE_KEY):
        assert secret not in log


async def test_missing_token_stops_with_one_line(tmp_path: Path) -> None:
    """With an empty environment the bot prints one stderr line naming DISCORD_TOKEN and fails."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env={},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    lines = stderr.decode().splitlines()
    assert proc.returncode not in (0, None)
    assert len(lines) == 1, lines
    assert "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in lines[0]
    assert stdout == b""


async def test_dotenv_is_read_from_the_working_directory(tmp_path: Path) -> None:
    """A `.env` in the working directory configures `python -m bot` (README "Configuration")."""
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///from-dotenv.db\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "migrate",
        cwd=tmp_path,
        env={},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert "schema version" in stdout.decode()
    assert (tmp_path / "from-dotenv.db").is_file()
    assert not (tmp_path / "data").exists()  # the default DATABASE_URL was not used
