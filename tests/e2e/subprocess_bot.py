"""The real `python -m bot` as a child process, configured by its environment alone.

The Discord and kie stand-ins run in the test process; the child reaches them over
127.0.0.1. Its stderr goes to a file, so a test can read the whole log after it exits.
Import the `spawn_bot` fixture into a test module to use it; every child still running at
the end of the test is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

from bot.jobs.models import Job
from bot.jobs.store import JobStore
from bot.store.database import Database
from imagine_standins.discord import FakeDiscord, InteractionRecord, StoredMessage
from imagine_standins.kie import FakeKie
from tests.e2e.stack import KIE_KEY, _free_port, wait_until

T = TypeVar("T")

# Generous: the child imports discord.py, Pillow and aiohttp before it logs in.
STARTUP_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0
# A logging line at ERROR or above in bot.logs' format: "DATE TIME LEVEL name: message".
_BAD_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL)\b|Traceback \(most recent call last\)")


def bot_env(
    discord: FakeDiscord,
    kie: FakeKie,
    *,
    database_path: Path | None = None,
    database_url: str | None = None,
    callbacks: bool = False,
    **extra: str,
) -> dict[str, str]:
    """Return the whole environment of a child bot pointed at both stand-ins.

    The database is a SQLite file (``database_path``) or any ``DATABASE_URL``
    (``postgres_url(POSTGRES_URL, schema)`` for a schema of the test's own). With ``callbacks``,
    PUBLIC_BASE_URL names the child's own web server, so kie's callbacks reach it; a restart
    with the same environment listens on the same port, so later callbacks still arrive.
    """
    if (database_path is None) == (database_url is None):
        raise TypeError("give exactly one of database_path and database_url")
    port = str(_free_port())
    env = {
        "DISCORD_TOKEN": discord.token,
        "KIE_API_KEY": KIE_KEY,
        "KIE_API_BASE_URL": kie.base_url,
        "KIE_RESULT_HOSTS": "127.0.0.1",
        "DISCORD_API_BASE_URL": discord.api_base_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATABASE_URL": database_url or f"sqlite:///{database_path}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": port,
    }
    if callbacks:
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    env.update(extra)
    return env


def postgres_url(base: str, schema: str) -> str:
    """Return ``base`` (a postgresql:// URL) with every connection's search_path set to schema.

    libpq's ``options=-csearch_path=…`` form, which asyncpg accepts too.
    """
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


class BotProcess:
    """One child `python -m bot`."""

    def __init__(self, proc: asyncio.subprocess.Process, env: dict[str, str], log: Path) -> None:
        self.proc = proc
        self.env = env
        self.log = log

    @property
    def web_url(self) -> str:
        """Return the base URL of the child's web server."""
        return f"http://{self.env['WEB_HOST']}:{self.env['WEB_PORT']}"

    @property
    def returncode(self) -> int | None:
        """Return the exit code, or None while it runs."""
        return self.proc.returncode

    def stderr(self) -> str:
        """Return everything the child wrote on stderr so far."""
        return self.log.read_text(errors="replace")

    def bad_lines(self) -> list[str]:
        """Return the stderr lines that are tracebacks or ERROR/CRITICAL log records."""
        return [line for line in self.stderr().splitlines() if _BAD_LINE.search(line)]

    async def until(self, waiting: Awaitable[T], timeout: float = STARTUP_TIMEOUT) -> T:
        """Await `waiting`, failing at once (with the child's log) if the child exits."""
        task: asyncio.Future[T] = asyncio.ensure_future(waiting)
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            done, _ = await asyncio.wait(
                {task, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for pending in (task, exited):
                if not pending.done():
                    pending.cancel()
            await asyncio.gather(task, exited, return_exceptions=True)
        if task in done:
            return task.result()
        what = f"exited with {self.returncode}" if exited in done else f"timed out ({timeout} s)"
        raise AssertionError(f"waiting on the bot: it {what}; its stderr:\n{self.stderr()}")

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send `sig` and return the exit code (failing if it does not exit in time)."""
        if self.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(
                f"the bot did not exit within {EXIT_TIMEOUT} s of {sig.name}:\n{self.stderr()}"
            ) from None

    async def kill(self) -> None:
        """kill -9: no handler, no cleanup, no last write."""
        await self.stop(signal.SIGKILL)


Spawn = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def spawn_bot(tmp_path: Path) -> AsyncIterator[Spawn]:
    """Return `await spawn_bot(env, *args, cwd=None)`, starting `python -m bot` children.

    The working directory defaults to an empty directory of the test's own, so no `.env`
    of the checkout is read (the bot looks for `.env` from its working directory).
    """
    children: list[BotProcess] = []

    async def spawn(env: dict[str, str], *args: str, cwd: Path | None = None) -> BotProcess:
        workdir = cwd or tmp_path / "cwd"
        workdir.mkdir(exist_ok=True)
        log = tmp_path / f"bot-{len(children) + 1}.stderr"
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *args,
                cwd=workdir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
            )
        child = BotProcess(proc, env, log)
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
            await child.proc.wait()


async def identified_sessions(discord: FakeDiscord, count: int) -> None:
    """Wait until `count` gateway sessions in all have identified with the stand-in."""
    await discord.wait_for(
        lambda: len(discord.gateway.identify_payloads) >= count, timeout=STARTUP_TIMEOUT
    )


async def healthz(url: str) -> tuple[int, Any]:
    """Return the status and JSON body of GET /healthz."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as resp,
    ):
        return resp.status, await resp.json()


async def wait_job(
    db: Database,
    interaction: InteractionRecord,
    pred: Callable[[Job], bool] | None = None,
    timeout: float = 20.0,
) -> Job:
    """Wait until the job made by `interaction` exists and satisfies `pred` (default: finished)."""
    store = JobStore(db)
    check = pred or (lambda j: j.state.finished)

    async def find() -> Job | None:
        row = await db.fetchrow("SELECT id FROM jobs WHERE interaction_id = $1", interaction.id)
        job = None if row is None else await store.get(row["id"])
        return job if job is not None and check(job) else None

    job: Job = await wait_until(find, timeout=timeout)
    return job


def results_for(discord: FakeDiscord, job_id: str) -> list[StoredMessage]:
    """Return the public messages carrying this job's images (its buttons name the job)."""
    return [
        m
        for m in discord.messages.values()
        if not m.deleted
        and not m.ephemeral
        and m.attachments
        and any(job_id in str(c) for c in m.components)
    ]


async def seed_history(
    db: Database,
    *,
    took: float,
    size: str = "square_hd",
    resolution: str = "1K",
    images: int = 1,
    count: int = 3,
) -> None:
    """Add delivered jobs that took `took` seconds: the adaptive polling plan learns from them.

    Without history the first recordInfo comes ~5 s after submit; with it, around `took`.
    """
    now = time.time()
    for n in range(count):
        finished = now - 60 * (n + 1)
        await db.execute(
            "INSERT INTO jobs (id, callback_token, guild_id, channel_id, user_id, state,"
            " prompt, image_size, resolution, images, created_at, updated_at, submitted_at,"
            " kie_finished_at, finished_at, cost_time, images_delivered, parts_delivered)"
            " VALUES ($1, $2, 1, 1, 1, 'delivered', 'history', $3, $4, $5, $6, $6, $6,"
            " $7, $7, $8, $5, 1)",
            uuid.uuid4().hex,
            uuid.uuid4().hex,
            size,
            resolution,
            images,
            finished - took,
            finished,
            took,
        )
