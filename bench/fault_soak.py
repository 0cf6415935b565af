"""Fault soak: 200 /imagine jobs while the bot is killed -9 every few seconds and kie misbehaves.

The real bot runs as a child process (`python -m bot`, as in production) against the Discord
and kie.ai stand-ins, which run in this process on 127.0.0.1. Several members ask for a few
images each (some results in several messages), with member and server quotas set so usage
is counted; some click Cancel. Throughout the storm the child is killed with SIGKILL at a
random moment every few seconds (on a timer, or at the next kie/Discord event of a random
kind) and restarted on the same database, and kie is made to misbehave at random: 429
bursts, createTask answered 500, a createTask that hangs past the bot's client timeout,
tasks that fail, result images that are gone from kie's file host (404).

Then nothing more is injected and the last child gets a bounded time to finish. Jobs still
waiting for kie to confirm a createTask whose answer was a 500 (kie made no task; with
callbacks on the bot waits as long as kie could still finish one, 15 minutes) are then
fast-forwarded: the child is killed, their `submitted_at` is moved back by that wait, and a
child is started as if the restart came 15 minutes later.

At the end `tests/e2e/money.py::money_report` reads the stand-ins and the database, and the
table shows lost jobs, duplicate posts, duplicate createTask, quota drift per bucket and
credit drift; each must be 0 (the exit status is 1 if not, 2 if the soak could not run).

    python -m bench.fault_soak [--seed N] [--jobs 200] [--kills 10] [--polling] [--postgres]

bench/README.md says what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import inspect
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

import bot
from bot.control.quotas import buckets
from bot.control.quotas.rules import Bucket
from bot.images.fit import DEFAULT_HEADROOM
from bot.jobs.config import EngineConfig
from bot.jobs.models import Job, JobState
from bot.jobs.outcomes import Failure
from bot.jobs.store import JobStore
from bot.kie.client import KieClient
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from imagine_standins.discord import FakeDiscord, InteractionRecord, StoredMessage
from imagine_standins.discord.world import Member
from imagine_standins.hooks import Hook
from imagine_standins.kie import CREATE_TASK, FILE, RECORD_INFO, Durations, FakeKie
from imagine_standins.kie import RecordedRequest as KieRequest
from tests.e2e.discord_records import has_cancel_button, result_upload
from tests.e2e.money import JobAccount, MoneyReport, Problem, money_report
from tests.e2e.stack import KIE_KEY, text_of
from tests.e2e.subprocess_bot import BotProcess, bot_env, postgres_url, seed_history

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SOURCE_ROOT = Path(bot.__file__).resolve().parents[1]
# The bot's createTask client timeout (bot/kie/client.py): a hung createTask outlasts it.
CREATE_TIMEOUT = float(inspect.signature(KieClient.__init__).parameters["request_timeout"].default)
HANG = CREATE_TIMEOUT + 5.0
# How long the bot waits for kie to confirm a createTask of unknown outcome (callbacks on).
GIVE_UP_AFTER = EngineConfig().give_up_after
# Every image of a 2+ image 1K result goes in a message of its own under this limit.
SPLIT_LIMIT = DEFAULT_HEADROOM + 30_000
STARTUP_TIMEOUT = 60.0
MEMBER_LIMIT = 100_000
SERVER_LIMIT = 1_000_000
RATE_MSG = "Rate limit exceeded: too many requests, try later"
SERVER_ERROR = "Server Error - An unexpected error occurred while processing the request"
TASK_FAILURES = [
    ("500", "internal error, please try again later."),
    ("422", "The content may violate our content policies."),
    ("400", "image generation failed"),
]
# A member whose /imagine is not answered within Discord's 3 s tries again, this often.
MAX_SENDS = 5
PROMPT = re.compile(r"soak \d+/(\d+):")
SUBJECTS = ["fox", "lighthouse", "teapot", "glacier", "robot", "orchard", "comet", "harbour"]
STYLES = ["in watercolour", "at dusk", "as a woodcut", "in neon", "in fog", "on a stamp"]


REPORT: list[str] = []


def out(line: str = "") -> None:
    """Print a line of the report (also kept for report.txt in the work directory)."""
    print(line, flush=True)
    REPORT.append(line)


# ----- the plan --------------------------------------------------------------------------------


@dataclass
class Action:
    """One member's /imagine, planned from the seed, and what became of it."""

    index: int
    member: Member
    prompt: str
    images: int
    split: bool
    cancel_after: float | None
    gap: float
    durations: Durations
    sends: list[InteractionRecord] = field(default_factory=list)
    cancel_clicks: list[InteractionRecord] = field(default_factory=list)
    cancel_note: str = ""


def plan_actions(rng: random.Random, seed: int, count: int, members: list[Member]) -> list[Action]:
    """Return the member actions: who, how many images, in parts or not, cancelled or not."""
    actions = []
    for i in range(count):
        images = rng.choices([1, 2, 3, 4], weights=[3, 3, 2, 2])[0]
        cancel = rng.random() < 0.07
        generating = rng.uniform(3.0, 5.0) if cancel else rng.uniform(0.3, 2.0)
        actions.append(
            Action(
                index=i,
                member=rng.choice(members),
                prompt=f"soak {seed}/{i}: a {rng.choice(SUBJECTS)} {rng.choice(STYLES)}",
                images=images,
                split=images >= 2 and rng.random() < 0.25,
                cancel_after=rng.uniform(0.5, 3.0) if cancel else None,
                gap=rng.uniform(0.05, 0.7),
                durations=Durations(rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3), generating),
            )
        )
    return actions


# ----- helpers ---------------------------------------------------------------------------------


def stamp(t: float) -> str:
    """Return a wall-clock time as HH:MM:SS.mmm."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


@dataclass
class Kill:
    """One kill -9."""

    at: float  # time.time()
    why: str
    mode: str  # "timer" or "event"


@dataclass
class KillPoint:
    """A moment to kill at: arm a one-shot hook on a stand-in that kills the given child."""

    name: str
    arm: Callable[[Soak, BotProcess], Any]
    callbacks_only: bool = False


def _made_task(rec: KieRequest) -> bool:
    return rec.endpoint == CREATE_TASK and rec.code == 200


KILL_POINTS = [
    KillPoint(
        "kie made a task; its createTask answer not yet sent",
        lambda s, c: s.kie.on_request(_made_task, when="before", action=s.killer(c)),
    ),
    KillPoint(
        "kie about to POST a callback",
        lambda s, c: s.kie.on_callback(when="before", action=s.killer(c)),
        callbacks_only=True,
    ),
    KillPoint(
        "the bot answered a callback 2xx",
        lambda s, c: s.kie.on_callback(
            lambda a: a.status is not None and 200 <= a.status < 300,
            when="after",
            action=s.killer(c),
        ),
        callbacks_only=True,
    ),
    KillPoint(
        "kie's file host received an image download",
        lambda s, c: s.kie.on_request(FILE, when="before", action=s.killer(c)),
    ),
    KillPoint(
        "Discord stored a result upload; its answer not yet sent",
        lambda s, c: s.discord.on_request(result_upload, when="before", action=s.killer(c)),
    ),
]


# ----- the soak --------------------------------------------------------------------------------


class Soak:
    """The stand-ins, the database, the children and everything injected."""

    discord: FakeDiscord
    kie: FakeKie

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.callbacks = not args.polling
        self.workdir = workdir
        seed = args.seed
        self.rng_plan = random.Random(f"{seed}:plan")
        self.rng_kills = random.Random(f"{seed}:kills")
        self.rng_faults = random.Random(f"{seed}:faults")
        self.discord = FakeDiscord(extra_members=max(0, args.members - 4))
        members = [*self.discord.world.ordinary_members]
        members += [
            m for m in self.discord.world.members.values() if m.user.username.startswith("user")
        ]
        self.members = members[: args.members]
        self.actions = plan_actions(self.rng_plan, seed, args.jobs, self.members)
        self.kie = FakeKie(
            api_key=KIE_KEY,
            credits=10_000_000,
            durations=self.durations_for,
            callback_retries=20,
            callback_retry_delay=1.0,
        )
        self.db: Database | None = None
        self.db_url = ""
        self.schema: str | None = None
        self.env: dict[str, str] = {}
        self.children: list[BotProcess] = []
        self.current: BotProcess | None = None
        self._sessions_before: list[Any] = []
        self.killed: set[int] = set()  # pids
        self.kills: list[Kill] = []
        self.crashes: list[str] = []
        self.events: list[tuple[float, str]] = []
        self.faults: collections.Counter[str] = collections.Counter()
        self.fault_units: collections.Counter[str] = collections.Counter()
        self.burst_seconds: dict[str, float] = collections.defaultdict(float)
        self.storm = True
        self.calm = asyncio.Event()
        self.cdn_armed = 0
        self.seen_settled: set[str] = set()
        self.expired: dict[str, list[int]] = {}
        self.hung_tasks: set[str] = set()
        self.create_answered: dict[str, float] = {}
        self.warped: list[str] = []
        self.warp_visible = 0
        self.started = time.monotonic()
        self.sender_done = False
        self.settle_timed_out = False
        #: Things worth a look that are not money (the logs are then kept).
        self.observations = 0

    # -- plumbing ------------------------------------------------------------------------------

    def event(self, text: str) -> None:
        """Note something on the timeline (kept in the work directory)."""
        self.events.append((time.time(), text))

    def durations_for(self, body: dict[str, Any]) -> Durations:
        """kie's durations for a task: the planned ones of the action its prompt names."""
        found = PROMPT.search(str(body.get("input", {}).get("prompt", "")))
        if found and int(found.group(1)) < len(self.actions):
            return self.actions[int(found.group(1))].durations
        return Durations(0.05, 0.05, 0.5)

    async def open_db(self) -> None:
        """Open a fresh, migrated database: SQLite in the work directory or a PG schema."""
        if self.args.postgres:
            self.schema = f"soak_{secrets.token_hex(6)}"
            conn = await asyncpg.connect(self.args.postgres_url, timeout=5)
            try:
                await conn.execute(f"CREATE SCHEMA {self.schema}")
            finally:
                await conn.close()
            self.db = await open_database(
                self.args.postgres_url, server_settings={"search_path": self.schema}
            )
            self.db_url = postgres_url(self.args.postgres_url, self.schema)
        else:
            self.db_url = f"sqlite:///{self.workdir}/bot.db"
            self.db = await open_database(self.db_url)
        await apply_migrations(self.db, now=time.time())
        # The children plan their polls from history: tasks of this shape take about this long.
        await seed_history(self.db, took=1.5, images=2)

    async def close_db(self) -> None:
        """Close the database; drop the PostgreSQL schema."""
        if self.db is not None:
            await self.db.close()
        if self.schema is not None:
            conn = await asyncpg.connect(self.args.postgres_url, timeout=5)
            try:
                await conn.execute(f"DROP SCHEMA {self.schema} CASCADE")
            finally:
                await conn.close()

    # -- children ------------------------------------------------------------------------------

    async def spawn(self) -> BotProcess:
        """Start a child on the same database and port; wait until it is logged in."""
        n = len(self.children) + 1
        log = self.workdir / f"bot-{n}.stderr"
        cwd = self.workdir / "cwd"
        cwd.mkdir(exist_ok=True)
        self._sessions_before = list(self.discord.gateway.sessions)
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
            )
        child = BotProcess(proc, self.env, log)
        self.children.append(child)
        self.current = child
        self.event(f"bot {n} started (pid {proc.pid})")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.is_up():
            if child.returncode is not None:
                raise SoakError(f"bot {n} exited with {child.returncode} while starting", child)
            if time.monotonic() > deadline:
                raise SoakError(f"bot {n} did not log in within {STARTUP_TIMEOUT} s", child)
            await asyncio.sleep(0.05)
        self.event(f"bot {n} logged in")
        return child

    def is_up(self) -> bool:
        """Return True when the current child runs and has a live gateway session."""
        child = self.current
        if child is None or child.returncode is not None or child.proc.pid in self.killed:
            return False
        before = self._sessions_before
        return any(all(s is not b for b in before) for s in self.discord.gateway.active)

    async def wait_up(self) -> None:
        """Wait until a child is up (restarting one that died by itself)."""
        while not self.is_up():
            child = self.current
            if (
                child is not None
                and child.returncode is not None
                and child.proc.pid not in self.killed
            ):
                # Died without being killed: that is a crash of the bot.
                self.killed.add(child.proc.pid)
                self.crashes.append(
                    f"bot {len(self.children)} exited by itself with {child.returncode}"
                )
                self.event(self.crashes[-1])
                await self.spawn()
                continue
            await asyncio.sleep(0.05)

    async def answered(self, interaction: InteractionRecord) -> bool:
        """Wait out Discord's 3 s window; return whether the bot acknowledged the interaction."""
        with contextlib.suppress(TimeoutError):
            await self.discord.wait_for(
                lambda: interaction.acknowledged, timeout=self.discord.callback_window + 0.5
            )
        return interaction.acknowledged

    async def kill(self, child: BotProcess, why: str, mode: str) -> None:
        """kill -9 `child` (once) and wait until it is gone."""
        if child.returncode is not None or child.proc.pid in self.killed:
            return
        self.killed.add(child.proc.pid)
        self.kills.append(Kill(time.time(), why, mode))
        self.event(f"KILL -9 bot {self.children.index(child) + 1}: {why}")
        await child.kill()

    def killer(self, child: BotProcess) -> Callable[[Any], Awaitable[None]]:
        """Return a hook action that kills `child` (if it is still the current one)."""

        async def action(record: Any) -> None:
            if child is self.current and self.storm:
                await self.kill(child, self._armed_why, "event")

        return action

    _armed_why = ""

    async def kill_loop(self) -> None:
        """Kill the child every few seconds (timer or next event), restart it at once."""
        low, high = self.args.kill_every
        points = [p for p in KILL_POINTS if self.callbacks or not p.callbacks_only]
        while self.storm:
            await self.wait_up()
            child = self.current
            assert child is not None
            delay = self.rng_kills.uniform(low, high)
            at_event = self.rng_kills.random() < 0.35
            point = self.rng_kills.choice(points)
            if not at_event:
                if await self._calm_within(delay):
                    return
                await self.kill(child, f"timer, {delay:.1f} s after login", "timer")
            else:
                if await self._calm_within(delay / 2):
                    return
                self._armed_why = point.name
                hook = point.arm(self, child)
                give_up = time.monotonic() + delay / 2 + 4.0
                while (
                    child.proc.pid not in self.killed
                    and time.monotonic() < give_up
                    and not await self._calm_within(0.05)
                ):
                    pass
                hook.cancel()
                if child.proc.pid not in self.killed:
                    if self.calm.is_set():
                        return
                    await self.kill(child, f"timer ({point.name!r} did not come)", "timer")
                # An event kill runs inside a stand-in's handler; wait until it is over.
                await child.proc.wait()
            await self.spawn()

    async def _calm_within(self, seconds: float) -> bool:
        """Sleep `seconds`; return True at once if the storm ends meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.calm.wait(), seconds)
        return self.calm.is_set()

    # -- members -------------------------------------------------------------------------------

    async def send_loop(self) -> None:
        """Send every planned /imagine, each after its gap, each followed on its own."""
        followers = []
        for action in self.actions:
            await asyncio.sleep(action.gap)
            followers.append(asyncio.create_task(self.run_action(action)))
        await asyncio.gather(*followers)
        self.sender_done = True

    async def run_action(self, action: Action) -> None:
        """Send one /imagine; send it again if it is not answered in 3 s; maybe Cancel."""
        options = {"prompt": action.prompt, "images": action.images}
        limit = SPLIT_LIMIT if action.split else None
        for _ in range(MAX_SENDS):
            await self.wait_up()
            try:
                record = await self.discord.send_slash_command(
                    action.member, "imagine", options, attachment_size_limit=limit
                )
            except Exception:  # noqa: BLE001 - the gateway session died under us
                await asyncio.sleep(0.2)
                continue
            action.sends.append(record)
            if await self.answered(record):
                break
            # "The application did not respond": the member tries again.
        if action.cancel_after is not None and action.sends and action.sends[-1].acknowledged:
            await self.cancel(action)

    async def job_for(self, interaction: InteractionRecord) -> Job | None:
        """Return the job an interaction made, if any."""
        assert self.db is not None
        row = await self.db.fetchrow(
            "SELECT id FROM jobs WHERE interaction_id = $1", interaction.id
        )
        return None if row is None else await JobStore(self.db).get(row["id"])

    async def cancel(self, action: Action) -> None:
        """Click Cancel on the job's progress message, as its member (again if unanswered)."""
        await asyncio.sleep(action.cancel_after or 0)
        imagine = action.sends[-1]
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            job = await self.job_for(imagine)
            if job is not None and job.state.finished:
                action.cancel_note = action.cancel_note or f"too late ({job.state.value})"
                return
            await self.wait_up()
            message = self.discord.original_for(imagine)
            if message is not None and has_cancel_button(message.components):
                button = next(c for c in message.custom_ids if "cancel" in c.lower())
                try:
                    click = await self.discord.click_button(message, button, action.member)
                except Exception:  # noqa: BLE001 - the gateway session died under us
                    await asyncio.sleep(0.2)
                    continue
                action.cancel_clicks.append(click)
                if await self.answered(click):
                    action.cancel_note = "clicked"
                    self.event(f"Cancel clicked on action {action.index}")
                    return
            await asyncio.sleep(0.3)
        action.cancel_note = action.cancel_note or "no Cancel button within 20 s"

    async def set_quotas(self) -> None:
        """As the admin: a day limit for every member and a month limit for the server."""
        world = self.discord.world
        commands: list[tuple[str, dict[str, Any], int]] = [
            (
                "imagine-admin quota member",
                {"member": m, "limit": MEMBER_LIMIT, "period": "day"},
                MEMBER_LIMIT,
            )
            for m in self.members
        ]
        commands.append(
            ("imagine-admin quota server", {"limit": SERVER_LIMIT, "period": "month"}, SERVER_LIMIT)
        )
        for name, options, limit in commands:
            interaction = await self.discord.send_slash_command(world.admin, name, options)

            def answered(inter: InteractionRecord = interaction) -> str | None:
                message = self.discord.original_for(inter)
                text = text_of(message) if message is not None and not message.loading else ""
                return text or None

            reply = await self.discord.wait_for(answered, timeout=20)
            if f"{limit:,}" not in reply and str(limit) not in reply:
                raise SoakError(f"{name} was not set: {reply!r}", self.current)

    # -- kie faults ----------------------------------------------------------------------------

    async def fault_loop(self) -> None:
        """Inject a random kie fault every second or few while the storm lasts."""
        rng = self.rng_faults
        kinds = {
            "429 burst on createTask": 3.0,
            "429 burst on recordInfo": 1.5,
            "500 on createTask": 1.0,
            "hung createTask": 0.8,
            "failed task": 2.0,
            "CDN 404 on result images": 2.0,
        }
        bursts: dict[str, asyncio.Task[None]] = {}
        hangs: list[Hook[KieRequest]] = []
        low, high = self.args.fault_every
        while not await self._calm_within(rng.uniform(low, high)):
            kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
            busy = {e for e, t in bursts.items() if not t.done()}
            # A 500 queued during a 429 burst would be dropped with the burst's answers.
            if kind == "500 on createTask" and (
                self.faults[kind] >= self.args.max_500 or CREATE_TASK in busy
            ):
                kind = "failed task"
            if kind == "hung createTask" and self.faults[kind] >= self.args.max_hung:
                kind = "429 burst on createTask"
            endpoint = {"429 burst on createTask": CREATE_TASK}.get(
                kind, RECORD_INFO if kind == "429 burst on recordInfo" else ""
            )
            if endpoint and endpoint in busy:
                continue  # one burst at a time on an endpoint
            self.faults[kind] += 1
            if endpoint:
                seconds = rng.uniform(1.0, 6.0 if endpoint == CREATE_TASK else 4.0)
                retry_after = rng.choice([None, 1.0, 2.0]) if endpoint == CREATE_TASK else None
                bursts[endpoint] = asyncio.create_task(
                    self._burst(kind, endpoint, seconds, retry_after)
                )
            elif kind == "500 on createTask":
                self.kie.force_error(CREATE_TASK, 500, SERVER_ERROR)
            elif kind == "hung createTask":
                hangs.append(
                    self.kie.on_request(self._will_succeed, when="before", action=self._hang)
                )
            elif kind == "failed task":
                self.kie.force_fail(*rng.choice(TASK_FAILURES))
            else:
                self.cdn_armed += 1
            self.event(f"fault: {kind}")
        for hook in hangs:
            hook.cancel()  # nothing new once the storm is over
        await asyncio.gather(*bursts.values())

    async def _burst(
        self, kind: str, endpoint: str, seconds: float, retry_after: float | None
    ) -> None:
        """Answer every call of `endpoint` 429 for `seconds` (or until the storm ends)."""
        many = 1_000_000
        self.kie.force_error(endpoint, 429, RATE_MSG, times=many, retry_after=retry_after)
        self.burst_seconds[kind] += seconds
        try:
            await self._calm_within(seconds)
        finally:
            self.fault_units[kind] += many - self.kie.clear_forced(endpoint)

    def _will_succeed(self, rec: KieRequest) -> bool:
        """Return True for a createTask that made a task kie will finish with images.

        So a hung createTask is not also a failed task (both would take the next task).
        """
        task = self.kie.tasks.get(rec.task_id or "") if _made_task(rec) else None
        return task is not None and task.fail is None

    async def _hang(self, rec: KieRequest) -> None:
        """Hold a createTask's answer (the task is made) past the bot's client timeout."""
        if rec.task_id:
            self.hung_tasks.add(rec.task_id)
        self.event(f"createTask hangs {HANG:.0f} s (task {rec.task_id})")
        await asyncio.sleep(HANG)

    def saw_task(self, task_id: str | None) -> None:
        """A finished task is about to be shown to the bot: maybe take its files away."""
        if not task_id or task_id in self.seen_settled:
            return
        task = self.kie.tasks.get(task_id)
        if task is None or not task.settled:
            return
        self.seen_settled.add(task_id)
        if task.fail is not None or not task.file_names or self.cdn_armed <= 0 or not self.storm:
            return
        self.cdn_armed -= 1
        count = len(task.file_names)
        if count == 1 or self.rng_faults.random() < 0.3:
            indexes = list(range(count))
        else:
            indexes = sorted(
                self.rng_faults.sample(range(count), self.rng_faults.randint(1, count - 1))
            )
        self.kie.expire_files(task_id, indexes)
        self.expired[task_id] = indexes
        self.fault_units["CDN 404 on result images"] += len(indexes)
        self.event(f"result files gone: task {task_id} images {[i + 1 for i in indexes]}")

    def arm_watchers(self) -> None:
        """Hooks that never change an answer: see finished tasks and createTask answers."""
        self.kie.on_request(
            lambda r: r.endpoint == RECORD_INFO and r.code == 200,
            when="before",
            action=lambda r: self.saw_task(r.task_id),
            times=None,
        )
        self.kie.on_callback(when="before", action=lambda a: self.saw_task(a.task_id), times=None)

        def answered(rec: KieRequest) -> None:
            if rec.task_id:
                self.create_answered[rec.task_id] = time.monotonic()

        self.kie.on_request(_made_task, when="after", action=answered, times=None)

    def unknowable(self) -> set[str]:
        """Tasks whose createTask answer may never have reached the bot (polling only).

        Without callbacks no bot can learn of such a task. A kill between the request's
        arrival and 2 s after its answer (the bot still has to write the id down), or a
        hung answer, makes it so.
        """
        if self.callbacks:
            return set()
        kills = [k.at - time.time() + time.monotonic() for k in self.kills]
        lost = set(self.hung_tasks)
        for rec in self.kie.calls(CREATE_TASK):
            if not rec.task_id:
                continue
            end = self.create_answered.get(rec.task_id, float("inf")) + 2.0
            if any(rec.at <= k <= end for k in kills):
                lost.add(rec.task_id)
        return lost

    # -- the run -------------------------------------------------------------------------------

    async def unfinished(self, states: Iterable[JobState]) -> int:
        """Return how many jobs are in these states."""
        assert self.db is not None
        names = [s.value for s in states]
        marks = ", ".join(f"${n}" for n in range(1, len(names) + 1))
        count = await self.db.fetchval(
            f"SELECT count(*) FROM jobs WHERE state IN ({marks})", *names
        )
        return int(count or 0)

    def task_of(self, job: Job) -> list[str]:
        """Return the kie tasks made for a job (by task id, callback token or prompt)."""
        found = []
        for task in self.kie.tasks_created():
            if (
                task.task_id == job.task_id
                or (task.callback_url and job.callback_token in task.callback_url)
                or str(task.input.get("prompt", "")).startswith(job.options.prompt)
            ):
                found.append(task.task_id)
        return found

    async def awaiting_confirmation(self) -> tuple[list[Job], list[Job]]:
        """Return SUBMITTING jobs: those kie made no task for, and those it did."""
        assert self.db is not None
        store = JobStore(self.db)
        rows = await self.db.fetch(
            "SELECT id FROM jobs WHERE state = $1", JobState.SUBMITTING.value
        )
        none: list[Job] = []
        some: list[Job] = []
        for row in rows:
            job = await store.get(row["id"])
            if job is None or job.state is not JobState.SUBMITTING:
                continue
            (some if self.task_of(job) else none).append(job)
        return none, some

    async def settle(self, timeout: float) -> float:
        """Wait (bounded) until nothing is under way but jobs kie made no task for.

        First the cheap signs (job states, kie's tasks), then money_report's own: no problem
        that may still resolve itself (a charge not yet recorded, a reservation not yet
        settled), apart from the jobs still waiting on a createTask kie never made.
        """
        assert self.db is not None
        start = time.monotonic()
        busy = [JobState.QUEUED, JobState.RUNNING, JobState.DELIVERING]
        while time.monotonic() - start < timeout:
            await self.wait_up()
            moving = await self.unfinished(busy)
            unsettled = sum(not t.settled for t in self.kie.tasks_created())
            waiting, confirmable = await self.awaiting_confirmation()
            if moving == 0 and unsettled == 0 and not confirmable:
                report = await money_report(
                    self.discord, self.kie, self.db, unknowable_tasks=self.unknowable()
                )
                if not [
                    p
                    for p in report.problems
                    if p.settling and not any(job.id[:12] in p.text for job in waiting)
                ]:
                    return time.monotonic() - start
            await asyncio.sleep(2.0)
        self.settle_timed_out = True
        return time.monotonic() - start

    async def warp(self) -> None:
        """Restart as if 15 minutes had passed, for jobs waiting on a createTask kie never made."""
        assert self.db is not None
        waiting, _ = await self.awaiting_confirmation()
        if not waiting:
            return
        for job in waiting:
            message = None
            if job.interaction is not None:
                inter = self.discord.interactions.get(job.interaction.interaction_id)
                message = self.discord.original_for(inter) if inter is not None else None
            if "has not confirmed" in text_of(message):
                self.warp_visible += 1
        assert self.current is not None
        await self.kill(self.current, "fast-forward: the next start is 15 minutes later", "warp")
        for job in waiting:
            since = job.submitted_at or job.created_at
            await self.db.execute(
                "UPDATE jobs SET submitted_at = $1 WHERE id = $2 AND state = $3",
                since - GIVE_UP_AFTER - 1.0,
                job.id,
                JobState.SUBMITTING.value,
            )
            self.warped.append(job.id)
        self.event(f"fast-forwarded {len(waiting)} job(s) by {GIVE_UP_AFTER:.0f} s")
        await self.spawn()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            store = JobStore(self.db)
            jobs = [await store.get(job_id) for job_id in self.warped]
            if all(j is None or j.state.finished for j in jobs):
                return
            await asyncio.sleep(0.5)

    async def run(self) -> tuple[MoneyReport, dict[str, Any]]:
        """Run the whole soak; return the money report and the figures of the run."""
        assert self.db is not None
        self.env = bot_env(
            self.discord,
            self.kie,
            database_url=self.db_url,
            callbacks=self.callbacks,
            MAX_JOBS_PER_MEMBER="3",
            MAX_QUEUED_PER_MEMBER="100",
            # The children run the very bot this process checks against (the same tree).
            PYTHONPATH=str(SOURCE_ROOT),
        )
        self.arm_watchers()
        await self.spawn()
        await self.set_quotas()
        self.event("storm begins")
        storm_start = time.monotonic()
        sender = asyncio.create_task(self.send_loop())
        killer = asyncio.create_task(self.kill_loop())
        faults = asyncio.create_task(self.fault_loop())
        try:
            while True:
                if killer.done():
                    killer.result()  # a child that cannot start: SoakError
                over = time.monotonic() - storm_start > self.args.storm_max
                enough = len(self.kills) >= self.args.kills and self.sender_done
                if enough:
                    queued = await self.unfinished([JobState.QUEUED])
                    if queued == 0 or len(self.kills) >= 2 * self.args.kills:
                        break
                if over:
                    break
                await asyncio.sleep(0.5)
        finally:
            self.storm = False
            self.calm.set()
            await asyncio.gather(killer, faults, return_exceptions=True)
        storm_seconds = time.monotonic() - storm_start
        self.event("storm over")
        last = self.current
        if last is None or last.returncode is not None or last.proc.pid in self.killed:
            if last is not None:
                await last.proc.wait()
            await self.spawn()  # killed at the storm's last moment
        await self.wait_up()
        await sender  # members still waiting for their answer finish first
        settle_seconds = await self.settle(self.args.settle)
        waiting, confirmable = await self.awaiting_confirmation()
        if waiting and self.callbacks:
            await self.warp()
            settle_seconds += await self.settle(self.args.settle)
        assert self.current is not None
        exit_code = await self.current.stop(signal.SIGTERM)
        self.event(f"last bot stopped with SIGTERM: exit {exit_code}")
        report = await money_report(
            self.discord, self.kie, self.db, unknowable_tasks=self.unknowable()
        )
        return report, {
            "storm": storm_seconds,
            "settle": settle_seconds,
            "exit": exit_code,
            "confirmable_left": len(confirmable),
        }


class SoakError(Exception):
    """The soak could not run (a child would not start)."""

    def __init__(self, text: str, child: BotProcess | None) -> None:
        super().__init__(text)
        self.child = child


# ----- the figures -----------------------------------------------------------------------------


@dataclass
class Figures:
    """The five figures that must be 0, with what makes them up."""

    lost: list[str] = field(default_factory=list)
    duplicate_posts: list[str] = field(default_factory=list)
    duplicate_creates: list[str] = field(default_factory=list)
    quota: list[tuple[str, int, int]] = field(default_factory=list)  # bucket, used, delivered
    credits_charged: Decimal = Decimal(0)
    credits_recorded: Decimal = Decimal(0)
    credit_rows: list[str] = field(default_factory=list)

    @property
    def quota_drift(self) -> int:
        """Return the sum of |used − delivered| over the buckets."""
        return sum(abs(used - delivered) for _, used, delivered in self.quota)

    @property
    def credit_drift(self) -> Decimal:
        """Return credits charged − recorded."""
        return self.credits_charged - self.credits_recorded


def unknowable_in(soak: Soak, report: MoneyReport) -> set[str]:
    """Return the unknowable tasks (polling) that no job records: a task a job names is known."""
    return soak.unknowable() - {a.job.task_id for a in report.accounts.values() if a.job.task_id}


def scope_failure_notices(soak: Soak, report: MoneyReport) -> None:
    """Count each job's failure notices among its own messages only.

    money_report counts every live message that shows a job's failure text, which is right
    for one job; here many jobs share a text ("kie.ai refused the prompt (…)"), so a notice
    counts for a job only in its interaction's messages or a message naming its id or prompt.
    Its "shown N times" problems are replaced by the same check on those messages.
    """
    problems = []
    by_name = {a.name: a for a in report.accounts.values()}
    for problem in report.problems:
        named = next((a for n, a in by_name.items() if problem.text.startswith(n)), None)
        if named is not None and " was shown " in problem.text:
            continue
        problems.append(problem)
    for account in report.accounts.values():
        job = account.job
        if not job.fail_message:
            continue
        own: list[StoredMessage] = []
        inter = (
            soak.discord.interactions.get(job.interaction.interaction_id)
            if job.interaction
            else None
        )
        if inter is not None:
            own = [m for m in [soak.discord.original_for(inter)] if m is not None]
            own += soak.discord.followups_for(inter)
        seen = {m.id for m in own}
        for message in soak.discord.messages.values():
            if message.id in seen:
                continue
            if job.id in str(message.components) or job.options.prompt in text_of(message):
                own.append(message)
        account.told = [m for m in own if not m.deleted and job.fail_message in text_of(m)]
        made = account.images_made
        expected = made if made is not None else job.options.images
        posted = account.images_posted
        if (
            job.state.finished
            and job.state is not JobState.CANCELLED
            and not (job.state is JobState.DELIVERED and posted == 0)
            and posted < expected
            and len(account.told) != 1
        ):
            problems.append(
                Problem(
                    f"{account.name} ended {job.state.value} with {posted} of {expected} "
                    f"images posted, and its failure ({job.fail_message!r}) was shown "
                    f"{len(account.told)} times in its own messages, not once"
                )
            )
    report.problems[:] = problems


async def figures(soak: Soak, report: MoneyReport) -> Figures:
    """Work out the five figures from the money report, the stand-ins and the database."""
    assert soak.db is not None
    fig = Figures()
    unknowable = unknowable_in(soak, report)
    names = {m.id: m.user.username for m in soak.discord.world.members.values()}
    per_interaction = collections.Counter(
        a.job.interaction.interaction_id for a in report.accounts.values() if a.job.interaction
    )
    for interaction_id, count in per_interaction.items():
        if count > 1:
            fig.duplicate_creates.append(f"interaction {interaction_id} made {count} jobs")
    for account in report.accounts.values():
        job, name = account.job, account.name
        if len(account.tasks) > 1:
            fig.duplicate_creates.append(
                f"{name}: {len(account.tasks)} kie tasks {[t.task_id for t in account.tasks]}"
            )
        for index, messages in sorted(account.posted.items()):
            if len(messages) > 1:
                fig.duplicate_posts.append(
                    f"{name}: image {index + 1} posted {len(messages)} times "
                    f"(messages {[m.id for m in messages]})"
                )
        if not job.state.finished:
            fig.lost.append(f"{name}: never finished (still {job.state.value})")
            continue
        made = account.images_made
        posted = account.images_posted
        if job.state is not JobState.CANCELLED and made and posted < made:
            if len(account.told) != 1:
                fig.lost.append(
                    f"{name}: {posted} of {made} images kie made were posted and the failure "
                    f"({job.fail_message!r}) was shown {len(account.told)} times"
                )
            elif job.fail_code == Failure.UNKNOWN.value and not (
                {t.task_id for t in account.tasks} <= unknowable
            ):
                fig.lost.append(
                    f"{name}: failed as unconfirmed, yet kie made {made} images for it "
                    f"(tasks {[t.task_id for t in account.tasks]})"
                )
    for task in report.orphan_tasks:
        if task.fail is None and task.task_id not in unknowable:
            fig.lost.append(
                f"kie task {task.task_id} ({task.image_count} images, prompt "
                f"{task.input.get('prompt')!r}) belongs to no job"
            )
    # Quota: per bucket, used against images delivered by the jobs it counts.
    delivered: dict[Bucket, int] = collections.defaultdict(int)
    for account in report.accounts.values():
        if account.reservation is not None:
            for bucket in account.reservation.buckets:
                delivered[bucket] += account.images_posted
    guild = soak.discord.world.guild_id
    for bucket, images in sorted(delivered.items(), key=lambda kv: str(kv[0])):
        used = await buckets.used(soak.db, guild, bucket)
        owner = names.get(bucket.target_id, str(bucket.target_id))
        fig.quota.append((f"{bucket.scope} {owner} {bucket.period}", used, images))
    # Credits: what kie charged for every task against what the jobs record.
    for account in report.accounts.values():
        charged = sum(
            (
                Decimal(str(t.credits_consumed))
                for t in account.tasks
                if t.task_id not in unknowable
            ),
            Decimal(0),
        )
        recorded = account.job.credits_consumed or Decimal(0)
        fig.credits_charged += charged
        fig.credits_recorded += recorded
        if charged != recorded:
            fig.credit_rows.append(
                f"{account.name}: kie charged {charged}, the job records {recorded} "
                f"(tasks {[t.task_id for t in account.tasks]})"
            )
    for task in report.orphan_tasks:
        if task.task_id not in unknowable and task.credits_consumed:
            fig.credits_charged += Decimal(str(task.credits_consumed))
            fig.credit_rows.append(
                f"kie task {task.task_id} of no job: {task.credits_consumed} credits"
            )
    return fig


def describe_jobs(soak: Soak, report: MoneyReport) -> list[str]:
    """Return the lines about member actions and jobs."""
    actions = soak.actions
    sends = sum(len(a.sends) for a in actions)
    answered = [a for a in actions if a.sends and a.sends[-1].acknowledged]
    by_interaction = {
        a.job.interaction.interaction_id: a for a in report.accounts.values() if a.job.interaction
    }
    deferred_no_job = []
    refused = []
    for action in answered:
        if action.sends[-1].id in by_interaction:
            continue
        message = soak.discord.original_for(action.sends[-1])
        if message is None or message.loading:
            acks = soak.discord.callbacks_for(action.sends[-1])
            acked = acks[0].time if acks else 0.0
            after = [k.at - acked for k in soak.kills if k.at >= acked]
            killed = f"killed {min(after) * 1000:.0f} ms after the deferral" if after else "no kill"
            deferred_no_job.append(
                f"action {action.index} (interaction {action.sends[-1].id}): {killed}"
            )
            soak.observations += 1
        else:
            refused.append(f"{action.index}: {text_of(message)[:80]!r}")
    states = collections.Counter(a.job.state.value for a in report.accounts.values())
    in_parts = sum(
        len({m.id for ms in a.posted.values() for m in ms}) > 1 for a in report.accounts.values()
    )
    partial = sum(
        a.job.state is JobState.DELIVERED
        and a.images_made is not None
        and a.images_posted < a.images_made
        for a in report.accounts.values()
    )
    images = sum(a.images_posted for a in report.accounts.values())
    cancels = [a for a in actions if a.cancel_after is not None]
    clicked = sum(a.cancel_note == "clicked" for a in cancels)
    lines = [
        f"member actions        {len(actions)} /imagine from {len(soak.members)} members "
        f"({sends} sent: {sends - len(actions)} again after no answer within 3 s); "
        f"{len(answered)} answered",
        f"jobs                  {len(report.accounts)}: "
        + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        + f"; {images} images posted, {in_parts} results in several messages, "
        f"{partial} delivered in part",
        f"cancels               {len(cancels)} planned, {clicked} clicked and answered"
        + (
            " (others: "
            + ", ".join(sorted({a.cancel_note for a in cancels if a.cancel_note != "clicked"}))
            + ")"
            if clicked < len(cancels)
            else ""
        ),
    ]
    if deferred_no_job:
        lines.append(
            f"  answered, no job    {len(deferred_no_job)} (the bot deferred, and no job was "
            f"written before it was killed: the member sees 'thinking…' until the token "
            f"expires; nothing reserved or charged; logs kept): {'; '.join(deferred_no_job)}"
        )
    if refused:
        lines.append(f"  refused             {len(refused)}: {refused[:5]}")
    return lines


def gone_outcomes(soak: Soak, report: MoneyReport) -> str:
    """Return what became of the jobs whose result files were taken away."""
    owner = {t.task_id: a for a in report.accounts.values() for t in a.tasks}
    outcomes: collections.Counter[str] = collections.Counter()
    for task_id, indexes in soak.expired.items():
        account = owner.get(task_id)
        if account is None:
            outcomes["no job"] += 1
            continue
        made = account.images_made or 0
        posted = account.images_posted
        outcomes[f"{account.job.state.value} {posted}/{made} posted ({len(indexes)} gone)"] += 1
    return ", ".join(f"{n} x {text}" for text, n in sorted(outcomes.items()))


def hung_outcomes(soak: Soak, report: MoneyReport) -> str:
    """Return what became of the jobs whose createTask hung."""
    owner = {t.task_id: a for a in report.accounts.values() for t in a.tasks}
    outcomes = []
    for task_id in sorted(soak.hung_tasks):
        task = soak.kie.tasks[task_id]
        account = owner.get(task_id)
        kie_end = f"kie {'failed' if task.fail else 'made ' + str(task.image_count)}"
        if account is None:
            outcomes.append(f"{kie_end}, no job")
            continue
        job = account.job
        outcomes.append(
            f"{kie_end}, job {job.state.value}"
            + (f" ({job.fail_code})" if job.fail_code else "")
            + f" {account.images_posted} posted, credits {job.credits_consumed}"
        )
    return "; ".join(outcomes)


def describe_faults(soak: Soak, report: MoneyReport) -> list[str]:
    """Return the lines about kills and faults."""
    modes = collections.Counter(k.mode for k in soak.kills if k.mode != "warp")
    storm_kills = sum(modes.values())
    events = collections.Counter(k.why for k in soak.kills if k.mode == "event")
    lines = [
        f"kills (kill -9)       {storm_kills} in the storm ({modes['timer']} on a timer, "
        f"{modes['event']} at an event), {len(soak.children)} bot processes in all"
        + (f"; {len(soak.crashes)} exited by themselves" if soak.crashes else ""),
    ]
    lines += [f"  at: {why}  x{n}" for why, n in events.most_common()]
    creates = soak.kie.calls(CREATE_TASK)
    codes = collections.Counter(r.code for r in creates)
    lines.append("faults injected")
    for kind in [
        "429 burst on createTask",
        "429 burst on recordInfo",
        "500 on createTask",
        "hung createTask",
        "failed task",
        "CDN 404 on result images",
    ]:
        extra = ""
        if kind.startswith("429"):
            extra = (
                f" ({soak.burst_seconds[kind]:.0f} s in all; every call answered 429: "
                f"{soak.fault_units[kind]} answers)"
            )
        elif kind == "hung createTask":
            extra = (
                f" ({len(soak.hung_tasks)} fired; held {HANG:.0f} s, "
                f"client timeout {CREATE_TIMEOUT:.0f} s)"
            )
        elif kind == "CDN 404 on result images":
            extra = (
                f" ({len(soak.expired)} tasks, {soak.fault_units[kind]} images gone; "
                f"{soak.cdn_armed} armed unused)"
            )
        lines.append(f"  {kind:<26}{soak.faults[kind]}{extra}")
        if kind == "CDN 404 on result images" and soak.expired:
            lines.append(f"    their jobs: {gone_outcomes(soak, report)}")
        if kind == "hung createTask" and soak.hung_tasks:
            lines.append(f"    their jobs: {hung_outcomes(soak, report)}")
    failed_tasks = sum(t.fail is not None for t in soak.kie.tasks_created())
    lines.append(
        f"kie                   {len(soak.kie.tasks)} tasks ({failed_tasks} failed); createTask "
        f"answers: "
        + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items(), key=str))
        + f"; recordInfo 429: {sum(r.code == 429 for r in soak.kie.calls(RECORD_INFO))}"
    )
    callbacks = soak.kie.callbacks
    if callbacks:
        ok = sum(a.status is not None and 200 <= a.status < 300 for a in callbacks)
        lines.append(
            f"callbacks             {len(callbacks)} POSTs, {ok} answered 2xx, "
            f"{len(callbacks) - ok} failed or refused (retried every 1 s, 20 times)"
        )
    if soak.warped:
        lines.append(
            f"fast-forward          {len(soak.warped)} job(s) waiting on a createTask kie never "
            f"made ({soak.warp_visible} showing 'has not confirmed'), moved {GIVE_UP_AFTER:.0f} s "
            "back and restarted"
        )
    return lines


def log_summary(soak: Soak) -> list[str]:
    """Return the ERROR lines the children logged, grouped (information only)."""
    ids = re.compile(r"\b(?:[0-9a-f]{12,}|\d{15,})\b")
    groups: collections.Counter[str] = collections.Counter()
    for child in soak.children:
        for line in child.bad_lines():
            groups[ids.sub("…", line.split(" ", 2)[-1])[:140]] += 1
    if not groups:
        return ["bot errors logged     0"]
    lines = [f"bot errors logged     {sum(groups.values())} (information)"]
    lines += [f"  {n} x {text}" for text, n in groups.most_common(8)]
    return lines


def print_table(soak: Soak, report: MoneyReport, fig: Figures, run: dict[str, Any]) -> bool:
    """Print the summary table; return True if every figure is 0."""
    args = soak.args
    mode = "polling" if args.polling else "callbacks"
    backend = "postgresql" if args.postgres else "sqlite"
    command = (
        f"python -m bench.fault_soak --seed {args.seed} --jobs {args.jobs} --kills {args.kills}"
        + (" --polling" if args.polling else "")
        + (" --postgres" if args.postgres else "")
    )
    out()
    out(f"fault soak: seed {args.seed}, {mode}, {backend}  (replay: {command})")
    out(
        f"time                  storm {run['storm']:.0f} s, settle {run['settle']:.0f} s"
        + (" (its bound: work was still under way)" if soak.settle_timed_out else "")
        + ", "
        f"total {time.monotonic() - soak.started:.0f} s; last bot exited {run['exit']} on SIGTERM"
    )
    for line in describe_jobs(soak, report) + describe_faults(soak, report) + log_summary(soak):
        out(line)
    unknowable = unknowable_in(soak, report)
    if unknowable:
        credits = sum(soak.kie.tasks[t].credits_consumed for t in unknowable)
        out(
            f"unknowable (polling)  {len(unknowable)} tasks whose createTask answer died with the "
            f"bot or hung, {credits} credits: no bot can learn of them without callbacks"
        )
    drift_buckets = [(b, u, d) for b, u, d in fig.quota if u != d]
    rows = [
        ("lost jobs", len(fig.lost)),
        ("duplicate posts", len(fig.duplicate_posts)),
        ("duplicate createTask", len(fig.duplicate_creates)),
        ("quota drift", fig.quota_drift),
        ("credit drift", fig.credit_drift),
    ]
    out()
    out(f"{'figure':<24}{'value':>8}   detail")
    details = {
        "lost jobs": f"{len(report.accounts)} jobs checked",
        "duplicate posts": f"{sum(a.images_posted for a in report.accounts.values())} images",
        "duplicate createTask": f"{len(soak.kie.tasks)} kie tasks",
        "quota drift": f"used − delivered over {len(fig.quota)} buckets"
        + (f"; {len(drift_buckets)} off" if drift_buckets else ""),
        "credit drift": f"kie charged {fig.credits_charged}, jobs record {fig.credits_recorded}",
    }
    for name, value in rows:
        out(f"{name:<24}{value!s:>8}   {details[name]}")
    out("quota buckets (used / delivered):")
    for bucket, used, images in fig.quota:
        mark = "" if used == images else f"   <-- drift {used - images:+d}"
        out(f"  {bucket:<40}{used:>6} / {images:<6}{mark}")
    ok = all(value == 0 for _, value in rows) and not report.problems
    problems = [
        *(f"lost: {x}" for x in fig.lost),
        *(f"duplicate post: {x}" for x in fig.duplicate_posts),
        *(f"duplicate createTask: {x}" for x in fig.duplicate_creates),
        *(f"credits: {x}" for x in fig.credit_rows),
        *(f"money_report: {p}" for p in report.problems),
    ]
    if problems:
        out("\nproblems:")
        for line in problems:
            out(f"  - {line}")
        out("\njobs involved:")
        for account in involved(report, problems):
            out(job_story(soak, account))
    out(f"\nRESULT: {'PASS' if ok else 'FAIL'} (seed {args.seed})")
    return ok


def involved(report: MoneyReport, problems: list[str]) -> list[JobAccount]:
    """Return the accounts a problem line names (by the 12-character job id prefix)."""
    text = "\n".join(problems)
    return [a for a in report.accounts.values() if a.job.id[:12] in text][:20]


def job_story(soak: Soak, account: JobAccount) -> str:
    """Return one job's figures and what the soak did around it, for a bug report."""
    job = account.job
    res = account.reservation
    gone = soak.expired
    quota = f"{res.state} charged {res.charged}/{res.images}" if res else "none"
    found = PROMPT.search(job.options.prompt)
    action = soak.actions[int(found.group(1))] if found else None
    lines = [
        f"  job {job.id} action {action.index if action else '?'} member "
        f"{action.member.user.username if action else job.user_id}: {job.state.value}, "
        f"{job.options.images} images asked, split={action.split if action else '?'}",
        f"    kie tasks {[t.task_id for t in account.tasks]} made "
        f"{account.images_made} images; expired files: "
        f"{ {t.task_id[:8]: soak.expired[t.task_id] for t in account.tasks if t.task_id in gone} }",
        f"    posted {{image: copies}} = "
        f"{ {i + 1: [m.id for m in ms] for i, ms in sorted(account.posted.items())} }, "
        f"images_delivered={job.images_delivered}, parts_delivered={job.parts_delivered}",
        f"    quota {quota}, "
        f"credits recorded {job.credits_consumed} (kie {account.charged_by_kie}), "
        f"fail {job.fail_code}: {job.fail_message!r}",
    ]
    for message in account.told:
        lines.append(
            f"    failure shown in {message.kind} message {message.id}"
            f"{' (ephemeral)' if message.ephemeral else ''}: {text_of(message)[:160]!r}"
        )
    start = job.created_at - 1
    end = (job.finished_at or time.time()) + 1
    around = [(t, text) for t, text in soak.events if start <= t <= end]
    for t, text in around[:40]:
        lines.append(f"    {stamp(t)} {text}")
    if len(around) > 40:
        lines.append(f"    … {len(around) - 40} more events in timeline.txt")
    lines.append(
        f"    created {stamp(job.created_at)}"
        + (f", submitted {stamp(job.submitted_at)}" if job.submitted_at else "")
        + (f", finished {stamp(job.finished_at)}" if job.finished_at else "")
    )
    return "\n".join(lines)


# ----- entry point -----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    """Run the soak; return the exit status."""
    workdir = Path(tempfile.mkdtemp(prefix="fault-soak-"))
    soak = Soak(args, workdir)
    out(
        f"fault soak: seed {args.seed}, {args.jobs} jobs, at least {args.kills} kills, "
        f"{'polling' if args.polling else 'callbacks'}, "
        f"{'postgresql' if args.postgres else 'sqlite'}; logs in {workdir}"
    )
    status = 2
    try:
        async with soak.discord, soak.kie:
            await soak.open_db()
            try:
                bound = args.storm_max + 3 * args.settle + HANG + 4 * STARTUP_TIMEOUT
                try:
                    report, figures_run = await asyncio.wait_for(soak.run(), bound)
                except TimeoutError:
                    raise SoakError(
                        f"the soak did not end within its bound ({bound:.0f} s); see timeline.txt",
                        soak.current,
                    ) from None
                scope_failure_notices(soak, report)
                fig = await figures(soak, report)
                status = 0 if print_table(soak, report, fig, figures_run) else 1
            except SoakError as exc:
                out(f"\nthe soak could not run: {exc}")
                if exc.child is not None:
                    out(exc.child.stderr()[-3000:])
            finally:
                for child in soak.children:
                    if child.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            child.proc.kill()
                        await child.proc.wait()
                await soak.close_db()
            if soak.kie.hook_errors or soak.discord.errors:
                out(f"stand-in errors: {soak.kie.hook_errors!r} {soak.discord.errors!r}")
                status = max(status, 2)
    finally:
        (workdir / "report.txt").write_text("\n".join(REPORT) + "\n")
        (workdir / "timeline.txt").write_text(
            "\n".join(f"{stamp(t)} {text}" for t, text in soak.events) + "\n"
        )
        if status == 0 and not args.keep and not soak.observations:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            out(f"logs and timeline kept in {workdir}")
    return status


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fault_soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: random)")
    parser.add_argument("--jobs", type=int, default=200, help="member actions (/imagine)")
    parser.add_argument("--kills", type=int, default=10, help="at least this many kill -9")
    parser.add_argument("--members", type=int, default=6)
    parser.add_argument("--polling", action="store_true", help="no PUBLIC_BASE_URL: no callbacks")
    parser.add_argument("--postgres", action="store_true", help="the machine's PostgreSQL")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=(3.0, 8.0),
        metavar=("MIN", "MAX"),
        help="seconds of a bot's life before its kill (uniform)",
    )
    parser.add_argument(
        "--fault-every",
        type=float,
        nargs=2,
        default=(1.0, 3.5),
        metavar=("MIN", "MAX"),
        help="seconds between kie faults (uniform)",
    )
    parser.add_argument("--max-500", type=int, default=4, help="createTask 500s at most")
    parser.add_argument("--max-hung", type=int, default=3, help="hung createTasks at most")
    parser.add_argument("--storm-max", type=float, default=300.0, help="storm length bound (s)")
    parser.add_argument("--settle", type=float, default=120.0, help="settle bound (s)")
    parser.add_argument("--keep", action="store_true", help="keep the logs even on success")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
