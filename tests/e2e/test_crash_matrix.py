"""The crash matrix: kill -9 the real bot at every point where money changes hands, restart it.

Each case runs the real bot as a child process (`python -m bot`) against both stand-ins, lets
a member ask /imagine (2 images, a member quota set so usage is counted), and kills the child
with SIGKILL from inside a stand-in, at one precise moment (``on_request`` / ``on_callback``
hooks: "before" = the stand-in has received and acted on the request but the bot never sees
the answer; "after" = the answer was sent). A second child then starts on the same database
and finishes the work. Afterwards `assert_money_exact` (tests/e2e/money.py) must find every
image posted exactly once (or one clear failure message and none), at most one createTask per
member action, quota used equal to images delivered, no reservation left open, and every
credit kie charged recorded on its job.

Points × callbacks on/off (PUBLIC_BASE_URL set or not) × SQLite/PostgreSQL. A point with
``edit=True`` starts from a picture (/imagine's `image`, kie's edit model): the restarted bot
must send the same stored reference (``tests/e2e/test_crash_edit.py``). One point:

    .venv/bin/python -m pytest tests/e2e/test_crash_matrix.py -k "download and polling and sqlite"

kie's tasks take under a second and the child learns that from seeded history, so a case
takes a few seconds when the bot is right. kie retries a callback that could not be
delivered (every second, 20 times): kie documents retries for some of its APIs (not for
Market callbacks), and without them a callback sent while the bot is down is lost for good,
so a createTask whose answer died with the bot could never be reconciled.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from PIL import Image

from bot.images.fit import DEFAULT_HEADROOM
from bot.jobs.models import Job, JobState
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from imagine_standins.discord import FakeDiscord, InteractionRecord, RecordedRequest, StoredMessage
from imagine_standins.discord.cdn import Upload
from imagine_standins.kie import (
    CREATE_TASK,
    FILE,
    RECORD_INFO,
    Durations,
    FakeKie,
)
from imagine_standins.kie import RecordedRequest as KieRequest
from tests.conftest import POSTGRES_URL, _drop_schema, _postgres_schema
from tests.e2e.discord_records import (
    CALLBACK_ROUTE,
    accepted,
    has_cancel_button,
    message_body,
    result_upload,
)
from tests.e2e.money import MoneyReport, identify, money_report
from tests.e2e.stack import KIE_KEY, text_of
from tests.e2e.subprocess_bot import (
    BotProcess,
    Spawn,
    bot_env,
    identified_sessions,
    postgres_url,
    seed_history,
    spawn_bot,  # noqa: F401 - fixture
    wait_job,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

log = logging.getLogger(__name__)

IMAGES = 2
TASK = Durations(0.05, 0.05, 0.6)
# Long enough to click Cancel while kie is still generating.
CANCEL_TASK = Durations(0.05, 0.05, 6.0)
# Two 1K results (~50 KB each) cannot share one message under this limit, even shrunk as far
# as the bot shrinks images to share (each then goes alone, shrunk): the result is split.
SPLIT_LIMIT = DEFAULT_HEADROOM + 30_000
# How long the restarted bot gets to finish everything (the callback safety-net poll is 20 s).
SETTLE_TIMEOUT = 45.0
KILL_TIMEOUT = 30.0

Outcome = Literal[
    "delivered", "failed", "cancelled", "cancelled or delivered", "delivered if task known"
]


@dataclass
class Run:
    """One case: the stand-ins, the database, the first child and how it was killed."""

    discord: FakeDiscord
    kie: FakeKie
    db: Database
    callbacks: bool
    first: BotProcess | None = None
    imagine: InteractionRecord | None = None
    cancel_click: InteractionRecord | None = None
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    why: str = ""
    killed_at: float = 0.0
    #: Tasks whose createTask answer the bot may never have taken in (it died around it).
    maybe_lost: set[str] = field(default_factory=set)
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    async def kill(self, why: str) -> None:
        """kill -9 the first child (once) and wait until it is gone."""
        if self.first is None:
            return
        if self.why:  # already killed, or being killed
            await self.killed.wait()
            return
        self.why, self.killed_at = why, time.monotonic()
        await self.first.kill()
        self.killed.set()

    def killer(self, why: str) -> Callable[[Any], Awaitable[None]]:
        """Return a hook action that kills the first child."""

        async def action(record: Any) -> None:
            await self.kill(why)

        return action

    def kill_later(self, delay: float, why: str) -> None:
        """Kill the first child `delay` seconds from now."""
        loop = asyncio.get_running_loop()
        self.timers.append(loop.call_later(delay, lambda: asyncio.ensure_future(self.kill(why))))

    def is_imagine(self, rec: RecordedRequest) -> bool:
        """Return True for a request made with the /imagine interaction's token or id."""
        inter = self.imagine
        return inter is not None and (
            rec.params.get("token") == inter.token
            or rec.params.get("interaction_id") == str(inter.id)
        )


async def arm_create_received(run: Run) -> None:
    """createTask received by kie, its task made; the bot never gets the answer."""

    async def kill(rec: KieRequest) -> None:
        if rec.task_id:
            run.maybe_lost.add(rec.task_id)
        await run.kill("kie made the task; createTask's answer never reached the bot")

    run.kie.on_request(CREATE_TASK, when="before", action=kill)


async def arm_create_answered(run: Run) -> None:
    """createTask answered: the bot holds the task id, maybe not yet written down."""

    async def kill(rec: KieRequest) -> None:
        if rec.task_id:
            run.maybe_lost.add(rec.task_id)
        await run.kill("right after kie's createTask answer was sent")

    run.kie.on_request(
        lambda r: r.endpoint == CREATE_TASK and r.code == 200, when="after", action=kill
    )


async def arm_generating(run: Run) -> None:
    """Mid-generation: at a recordInfo (polling), or halfway through (callbacks: no polls)."""
    if not run.callbacks:

        def in_progress(rec: KieRequest) -> bool:
            task = run.kie.tasks.get(rec.task_id or "")
            return (
                rec.endpoint == RECORD_INFO
                and task is not None
                and task.state(run.kie.clock()) not in ("success", "fail")
            )

        run.kie.on_request(
            in_progress,
            when="before",
            action=run.killer("kie received a recordInfo while still generating"),
        )
        return

    def halfway(rec: KieRequest) -> None:
        d = TASK
        run.kill_later(d.waiting + d.queuing + d.generating / 2, "halfway through generation")

    run.kie.on_request(CREATE_TASK, when="after", action=halfway)


async def arm_callback_received(run: Run) -> None:
    """kie is about to POST the callback: the bot is dead when it arrives (kie retries)."""
    run.kie.on_callback(when="before", action=run.killer("kie was about to POST the callback"))


async def arm_callback_answered(run: Run) -> None:
    """The bot answered kie's callback 2xx, then died: kie will not send it again."""
    run.kie.on_callback(
        lambda a: a.status is not None and 200 <= a.status < 300,
        when="after",
        action=run.killer("right after the bot answered kie's callback"),
    )


async def arm_download(run: Run) -> None:
    """The bot is downloading the images from kie's file host."""
    run.kie.on_request(
        FILE, when="before", action=run.killer("kie's file host received an image download")
    )


async def arm_upload_accepted(run: Run) -> None:
    """Discord stored the first result message; its answer never reaches the bot."""
    run.discord.on_request(
        result_upload,
        when="before",
        action=run.killer("Discord stored a result upload; the answer never reached the bot"),
    )


async def arm_second_part(run: Run) -> None:
    """Discord stored part 2 of a split result; the bot never hears so."""

    def second(rec: RecordedRequest) -> bool:
        earlier = [r for r in run.discord.requests if r is not rec and r.done and result_upload(r)]
        return result_upload(rec) and len(earlier) >= 1

    run.discord.on_request(
        second,
        when="before",
        action=run.killer("Discord stored part 2 of the result; the answer never reached the bot"),
    )


async def arm_failure_message(run: Run) -> None:
    """kie fails the task; Discord stores the failure message, the bot never hears so."""
    run.kie.force_fail("500", "Internal server error")

    def failure_message(rec: RecordedRequest) -> bool:
        # The first message the bot writes once kie has failed the task, that is neither a
        # result nor a progress update (those carry the Cancel button).
        body = message_body(rec)
        return (
            body is not None
            and accepted(rec)
            and (run.is_imagine(rec) or rec.route == "/channels/{channel_id}/messages")
            and not rec.files
            and bool(body.get("embeds") or body.get("content"))
            and not has_cancel_button(body.get("components"))
            and any(t.settled and t.fail for t in run.kie.tasks_created())
        )

    run.discord.on_request(
        failure_message,
        when="before",
        action=run.killer("Discord stored the failure message; the answer never reached the bot"),
    )


async def click_cancel_while_generating(run: Run) -> None:
    """Wait until kie is generating the job's task, then click Cancel as its member."""
    assert run.imagine is not None and run.first is not None
    await run.first.until(
        wait_job(
            run.db,
            run.imagine,
            lambda j: j.state is JobState.RUNNING and j.task_id is not None,
            timeout=15,
        )
    )
    imagine = run.imagine

    def cancellable() -> StoredMessage | None:
        message = run.discord.original_for(imagine)
        return message if message is not None and has_cancel_button(message.components) else None

    progress = await run.discord.wait_for(cancellable, timeout=10)
    button = next(c for c in progress.custom_ids if "cancel" in c.lower())
    run.cancel_click = await run.discord.click_button(progress, button, run.discord.world.alice)


async def arm_cancel_ack(run: Run) -> None:
    """Discord takes the bot's response to the Cancel click; the bot never hears so."""

    def ack(rec: RecordedRequest) -> bool:
        click = run.cancel_click
        return (
            click is not None
            and rec.route == CALLBACK_ROUTE
            and rec.params.get("interaction_id") == str(click.id)
        )

    run.discord.on_request(
        ack,
        when="before",
        action=run.killer("Discord took the response to the Cancel click; the bot never heard"),
    )


async def arm_cancel_edit(run: Run) -> None:
    """Discord takes the edit that shows the cancellation; the bot never hears so."""

    def cancellation(rec: RecordedRequest) -> bool:
        # After the click: a message write of the /imagine or the click interaction that
        # says "cancelled" or takes the Cancel button away.
        click = run.cancel_click
        body = message_body(rec)
        if click is None or body is None or not accepted(rec):
            return False
        on_click = rec.params.get("interaction_id") == str(click.id) or (
            rec.params.get("token") == click.token
        )
        says = "cancel" in (str(body.get("content")) + str(body.get("embeds"))).lower()
        removes = "components" in body and not has_cancel_button(body["components"])
        return (run.is_imagine(rec) or on_click) and (says or removes)

    run.discord.on_request(
        cancellation,
        when="before",
        action=run.killer("Discord stored the cancellation edit; the bot never heard"),
    )


async def arm_after_last_part(run: Run) -> None:
    """Discord answered the upload that completed the result; then the bot died."""

    def completes(rec: RecordedRequest) -> bool:
        if not result_upload(rec):
            return False
        tasks = run.kie.tasks_created()
        shown = {
            found
            for m in run.discord.messages.values()
            for a in m.attachments
            if (found := identify(a.data, tasks)) is not None
        }
        return any(
            all((t.task_id, i) in shown for i in range(t.image_count))
            for t in run.kie.tasks_created()
        )

    run.discord.on_request(
        completes,
        when="after",
        action=run.killer("right after Discord answered the last result upload"),
    )


@dataclass(frozen=True)
class Point:
    """One place to crash."""

    name: str
    arm: Callable[[Run], Awaitable[None]]
    outcome: Outcome
    callbacks_only: bool = False
    task: Durations = TASK
    attachment_size_limit: int | None = None
    act: Callable[[Run], Awaitable[None]] | None = None
    #: The member starts from a picture (/imagine's `image`): kie's edit model.
    edit: bool = False


POINTS = [
    Point("create_received", arm_create_received, "delivered if task known"),
    Point("create_answered", arm_create_answered, "delivered if task known"),
    Point("generating", arm_generating, "delivered"),
    Point("callback_received", arm_callback_received, "delivered", callbacks_only=True),
    Point("callback_answered", arm_callback_answered, "delivered", callbacks_only=True),
    Point("download", arm_download, "delivered"),
    Point("upload_accepted", arm_upload_accepted, "delivered"),
    Point("second_part", arm_second_part, "delivered", attachment_size_limit=SPLIT_LIMIT),
    Point("failure_message", arm_failure_message, "failed"),
    Point(
        "cancel_ack",
        arm_cancel_ack,
        "cancelled",
        task=CANCEL_TASK,
        act=click_cancel_while_generating,
    ),
    Point(
        "cancel_edit",
        arm_cancel_edit,
        "cancelled or delivered",
        task=CANCEL_TASK,
        act=click_cancel_while_generating,
    ),
    Point("after_last_part", arm_after_last_part, "delivered"),
]

CASES = [
    pytest.param(point, callbacks, id=f"{point.name}-{'callbacks' if callbacks else 'polling'}")
    for point in POINTS
    for callbacks in (True, False)
    if callbacks or not point.callbacks_only
]


@dataclass
class CrashDb:
    """The test's handle on the database and the URL the children get."""

    db: Database
    url: str
    backend: str


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def crash_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CrashDb]:
    """A migrated database on each backend (PostgreSQL: a schema of this test's own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/bot.db"
        db = await open_database(url)
        schema = None
    else:
        schema = await _postgres_schema()
        db = await open_database(POSTGRES_URL, server_settings={"search_path": schema})
        url = postgres_url(POSTGRES_URL, schema)
    await apply_migrations(db, now=time.time())
    try:
        yield CrashDb(db, url, request.param)
    finally:
        await db.close()
        if schema is not None:
            await _drop_schema(schema)


@pytest.fixture
async def crash_kie() -> AsyncIterator[FakeKie]:
    """kie with sub-second tasks that retries an undelivered callback every second, 20 times."""
    async with FakeKie(
        api_key=KIE_KEY, durations=TASK, callback_retries=20, callback_retry_delay=1.0
    ) as kie:
        yield kie
        assert kie.hook_errors == [], f"a kie stand-in hook failed: {kie.hook_errors!r}"


async def set_member_quota(discord: FakeDiscord, bot: BotProcess) -> None:
    """As the admin: /imagine-admin quota member alice 100 per day, so usage is counted."""
    world = discord.world
    interaction = await discord.send_slash_command(
        world.admin,
        "imagine-admin quota member",
        {"member": world.alice, "limit": 100, "period": "day"},
    )

    def answered() -> StoredMessage | None:
        message = discord.original_for(interaction)
        return message if message is not None and not message.loading else None

    reply = await bot.until(discord.wait_for(answered, timeout=10))
    assert "100" in text_of(reply), f"the quota was not set: {text_of(reply)!r}"


async def wait_settled(run: Run, unknowable: Callable[[], set[str]]) -> MoneyReport:
    """Wait until nothing is still under way (or the time is up); return the last report."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        report = await money_report(run.discord, run.kie, run.db, unknowable_tasks=unknowable())
        if report.settled or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.2)


def expectation_problems(point: Point, run: Run, report: MoneyReport) -> list[str]:
    """Return how the end state differs from what the point should end in."""
    accounts = list(report.accounts.values())
    if len(accounts) != 1:
        return [f"expected exactly 1 job for the one /imagine, found {len(accounts)}"]
    account = accounts[0]
    job: Job = account.job
    made = account.images_made
    complete = made is not None and len(account.posted) == made and account.unidentified == 0
    wanted = point.outcome
    if wanted == "delivered if task known":
        known = job.task_id is not None or run.callbacks
        wanted = "delivered" if known else "failed"
    problems = []
    if wanted == "delivered" and not (job.state is JobState.DELIVERED and complete):
        problems.append(
            f"expected {account.name} delivered with all {made or IMAGES} images; it is "
            f"{job.state.value} with {account.images_posted} posted"
            + (f" ({job.fail_code}: {job.fail_message})" if job.fail_code else "")
        )
    elif wanted == "failed" and job.state is not JobState.FAILED:
        problems.append(f"expected {account.name} to fail; it is {job.state.value}")
    elif wanted == "cancelled or delivered" and not (
        (job.state is JobState.CANCELLED and account.images_posted == 0)
        or (job.state is JobState.DELIVERED and complete)
    ):
        # The edit that matches may be the refusal of a click that came too late ("Too late
        # to cancel"): then the job is delivered in full, never half.
        problems.append(
            f"expected {account.name} cancelled with nothing posted, or delivered in full; it "
            f"is {job.state.value} with {account.images_posted} posted"
        )
    elif wanted == "cancelled" and not (
        job.state is JobState.CANCELLED and account.images_posted == 0
    ):
        # The bot cancels in the database before it acknowledges the click, so a click
        # Discord took is a cancelled job.
        problems.append(
            f"expected {account.name} cancelled with nothing posted; it is {job.state.value} "
            f"with {account.images_posted} posted"
        )
    if point.attachment_size_limit and job.state is JobState.DELIVERED:
        parts = {m.id for messages in account.posted.values() for m in messages}
        if len(parts) < 2:
            problems.append(f"the result was meant to need 2+ messages; it took {len(parts)}")
    return problems


EDIT_MODEL = "bytedance/seedream-v4-edit"


def reference_upload() -> Upload:
    """The member's picture for an edit point."""
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 120, 200)).save(out, "PNG")
    return Upload("reference.png", out.getvalue())


def edit_problems(point: Point, run: Run) -> list[str]:
    """Return how kie's tasks differ from the member's edit: the edit model, their picture."""
    if not point.edit or run.imagine is None:
        return []
    data = run.imagine.payload["data"]
    [url] = [a["url"] for a in data["resolved"]["attachments"].values()]
    problems = []
    for task in run.kie.tasks_created():
        sent = (task.body["model"], task.input.get("image_urls"))
        if sent != (EDIT_MODEL, [url]):
            problems.append(f"task {task.task_id} was sent {sent}, not the edit model with {url}")
        problems += [f"kie could not fetch {f.url}: {f.error}" for f in task.fetched if not f.ok]
    return problems


@pytest.mark.parametrize(("point", "callbacks"), CASES)
async def test_crash_matrix(
    crash_db: CrashDb,
    spawn_bot: Spawn,  # noqa: F811
    fake_discord: FakeDiscord,
    crash_kie: FakeKie,
    point: Point,
    callbacks: bool,
) -> None:
    """kill -9 at the point, restart on the same database: money stays exact."""
    await crash_and_restart(crash_db, spawn_bot, fake_discord, crash_kie, point, callbacks)


async def crash_and_restart(
    crash_db: CrashDb,
    spawn_bot: Spawn,  # noqa: F811
    fake_discord: FakeDiscord,
    crash_kie: FakeKie,
    point: Point,
    callbacks: bool,
) -> None:
    """Run one case: /imagine, kill -9 at the point, restart, check money (and the edit)."""
    discord, kie, db = fake_discord, crash_kie, crash_db.db
    kie.durations = point.task
    run = Run(discord, kie, db, callbacks)
    where = f"{point.name}, {'callbacks' if callbacks else 'polling'}, {crash_db.backend}"
    # The child plans its polls from history: tasks of this shape take about this long.
    await seed_history(db, took=point.task.total, images=IMAGES)
    env = bot_env(discord, kie, database_url=crash_db.url, callbacks=callbacks)

    run.first = await spawn_bot(env)
    await run.first.until(identified_sessions(discord, 1))
    await set_member_quota(discord, run.first)
    await point.arm(run)
    options: dict[str, Any] = {"prompt": f"crash matrix: {where}", "images": IMAGES}
    if point.edit:
        options["image"] = reference_upload()
    run.imagine = await discord.send_slash_command(
        discord.world.alice,
        "imagine",
        options,
        attachment_size_limit=point.attachment_size_limit,
    )
    if point.act is not None:
        await point.act(run)
    exited = asyncio.ensure_future(run.first.proc.wait())
    try:
        await asyncio.wait(
            {asyncio.ensure_future(run.killed.wait()), exited},
            timeout=KILL_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        exited.cancel()
        for timer in run.timers:
            timer.cancel()
    if run.why and not run.killed.is_set():  # the kill is under way: wait for it to finish
        await asyncio.wait_for(run.killed.wait(), KILL_TIMEOUT)
    if not run.killed.is_set():
        state = "exited by itself" if run.first.returncode is not None else "still running"
        raise AssertionError(
            f"[{where}] the kill point was never reached within {KILL_TIMEOUT} s (the first "
            f"bot is {state}); its stderr:\n{run.first.stderr()[-4000:]}"
        )

    second = await spawn_bot(env)  # same database, same web port
    await second.until(identified_sessions(discord, 2))

    def unknowable() -> set[str]:
        # Tasks no bot can learn of: kie's answer was lost with the process and no callback
        # will ever name them (money_report still counts any that a job did record).
        return set() if callbacks else set(run.maybe_lost)

    await wait_settled(run, unknowable)
    code = await second.stop()
    report = await money_report(discord, kie, db, unknowable_tasks=unknowable())
    problems = [str(p) for p in report.problems] + expectation_problems(point, run, report)
    problems += edit_problems(point, run)
    log.info("[%s] killed: %s\n%s", where, run.why, report.describe())
    if problems:
        logs = [f"  first: {line}" for line in run.first.bad_lines()[-10:]]
        logs += [f"  second: {line}" for line in second.bad_lines()[-10:]]
        raise AssertionError(
            f"[{where}] killed: {run.why}\n"
            + "\n".join(f"- {p}" for p in problems)
            + f"\n{report.figures()}\nsecond bot exited {code}"
            + ("\nerrors logged:\n" + "\n".join(logs) if logs else "")
        )
