"""The job engine alone, through its ports: fake kie, fake delivery, fake ledger, real SQLite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.images import DownloadedImage, DownloadFailed
from bot.images.fit import DEFAULT_HEADROOM
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, JobState
from bot.jobs.outcomes import Failed, Failure
from bot.jobs.ports import PostRefused, Progress, ResultPart
from bot.jobs.store import JobStore
from bot.kie import (
    CreateTaskRequest,
    KieError,
    KieOutcomeUnknown,
    TaskRecord,
    TaskState,
    error_for_code,
)
from bot.store.database import Database, open_database
from bot.store.migrate import apply_migrations
from tests.images.pictures import as_download, noise_jpeg
from tests.jobs.rows import queued_job

RESULT_URL = "https://tempfile.aiquickdraw.com/p/result.jpg"


@dataclass
class FakeKie:
    """kie's two task calls, scripted: the task generates, then ends as `final` says."""

    create_error: KieError | None = None
    final: str = "success"
    fail_msg: str = "Internal error"
    result_urls: tuple[str, ...] = (RESULT_URL,)
    credits: float = 5.0
    created: list[CreateTaskRequest] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)

    async def create_task(
        self,
        request: CreateTaskRequest,
        /,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        if before_send is not None:
            await before_send()
        if self.create_error is not None:
            raise self.create_error
        self.created.append(request)
        return f"task-{len(self.created)}"

    async def get_task(self, task_id: str, /) -> TaskRecord:
        self.polls[task_id] = self.polls.get(task_id, 0) + 1
        # recordInfo's `param` echoes the request, callback URL (and so the job's token) included.
        param = self.created[int(task_id.split("-")[1]) - 1].callback_url or ""
        if self.polls[task_id] == 1 or self.final == "never":
            return TaskRecord(task_id=task_id, model="m", state=TaskState.GENERATING, param=param)
        if self.final == "success":
            return TaskRecord(
                task_id=task_id,
                model="m",
                state=TaskState.SUCCESS,
                param=param,
                result_urls=self.result_urls,
                credits_consumed=self.credits,
                create_time=1_000,
                complete_time=3_000,
            )
        return TaskRecord(
            task_id=task_id,
            model="m",
            state=TaskState.FAIL,
            param=param,
            fail_code="500",
            fail_msg=self.fail_msg,
            credits_consumed=self.credits,
        )


@dataclass
class FakeDelivery:
    """Records what the member would see; `post_errors` are raised by the next posts."""

    post_errors: list[Exception] = field(default_factory=list)
    upload_limit_bytes: int = 10 * 1024 * 1024
    # What the chat shows already (a part that landed before a crash); None: can't tell.
    already_posted: int | None = 0
    posted: list[ResultPart] = field(default_factory=list)
    progress_seen: list[tuple[JobState, Progress]] = field(default_factory=list)
    failures: list[Failed] = field(default_factory=list)
    cancellations: list[str] = field(default_factory=list)

    async def upload_limit(self, job: Job) -> int:
        return self.upload_limit_bytes

    async def posted_parts(self, job: Job) -> int | None:
        return self.already_posted

    async def progress(self, job: Job, progress: Progress) -> None:
        self.progress_seen.append((job.state, progress))

    async def post_result(self, job: Job, part: ResultPart) -> str:
        if self.post_errors:
            raise self.post_errors.pop(0)
        self.posted.append(part)
        return "interaction"

    async def failed(self, job: Job, failed: Failed) -> None:
        self.failures.append(failed)

    async def cancelled(self, job: Job) -> None:
        self.cancellations.append(job.id)

    async def close(self) -> None:
        return None


@dataclass
class FakeLedger:
    """Records settles and refunds."""

    settled: dict[str, int] = field(default_factory=dict)
    refunded: list[str] = field(default_factory=list)

    async def settle(self, job_id: str, delivered: int, *, conn: object = None) -> None:
        self.settled[job_id] = delivered

    async def refund(self, job_id: str, *, conn: object = None) -> None:
        self.refunded.append(job_id)

    async def sweep(self) -> int:
        return 0


@dataclass
class Rig:
    """An engine on a real SQLite store with every port faked."""

    db: Database
    kie: FakeKie
    delivery: FakeDelivery
    ledger: FakeLedger
    downloads: list[DownloadedImage | Exception]
    config: EngineConfig
    engine: JobEngine | None = None

    def build(self) -> JobEngine:
        async def download(urls: Sequence[str]) -> list[DownloadedImage | Exception]:
            return self.downloads[: len(urls)]

        self.engine = JobEngine(
            store=JobStore(self.db),
            kie=self.kie,
            delivery=self.delivery,
            download=download,
            config=self.config,
            quota=self.ledger,
        )
        return self.engine

    async def admitted(self, **fields: Any) -> Job:
        """Write a job row as admission would, and return it."""
        job = queued_job(**fields)
        await JobStore(self.db).insert(job)
        return job

    async def wait(self, job_id: str, done: Callable[[Job], bool] | None = None) -> Job:
        """Wait until the job is finished (or `done` holds) and return it."""
        check = done or (lambda j: j.state.finished)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            job = await JobStore(self.db).get(job_id)
            if job is not None and check(job):
                return job
            await asyncio.sleep(0.01)
        raise AssertionError(f"job {job_id} never got there: {await JobStore(self.db).get(job_id)}")


@pytest.fixture
async def rig(tmp_path: Any) -> AsyncIterator[Rig]:
    """An unstarted engine rig; the test starts it."""
    db = await open_database(f"sqlite:///{tmp_path}/engine.db")
    await apply_migrations(db, now=time.time())
    image = as_download(noise_jpeg(64, 64, seed=1), RESULT_URL)
    rig = Rig(
        db=db,
        kie=FakeKie(),
        delivery=FakeDelivery(),
        ledger=FakeLedger(),
        downloads=[image],
        config=EngineConfig(default_expected={"1K": 0.05}),
    )
    yield rig
    if rig.engine is not None:
        await rig.engine.shutdown(timeout=1)
    await db.close()


async def run(rig: Rig, job: Job) -> Job:
    """Start the engine, hand it the job, and wait for the job to end."""
    engine = rig.build()
    await engine.start()
    await engine.accept(job)
    return await rig.wait(job.id)


async def test_a_job_runs_from_queue_to_delivery(rig: Rig) -> None:
    """One createTask, the images posted once, the quota settled to what was delivered."""
    job = await run(rig, await rig.admitted())
    assert job.state is JobState.DELIVERED
    assert job.images_delivered == 1
    assert job.credits_consumed == 5.0
    assert job.task_id == "task-1"
    assert len(rig.kie.created) == 1
    assert [len(p.attachments) for p in rig.delivery.posted] == [1]
    assert rig.ledger.settled == {job.id: 1}
    assert rig.ledger.refunded == []
    assert rig.delivery.failures == []


async def test_resumed_running_job_is_watched_not_resubmitted(rig: Rig) -> None:
    """A job the row says is RUNNING is polled and delivered after a restart, never re-created."""
    rig.kie.created.append(CreateTaskRequest(prompt="a red fox"))  # made before the crash
    job = await rig.admitted(
        state=JobState.RUNNING, task_id="task-1", submitted_at=time.time(), kie_state="waiting"
    )
    await rig.build().start()
    job = await rig.wait(job.id)
    assert job.state is JobState.DELIVERED
    assert len(rig.kie.created) == 1


async def test_resumed_submitting_job_without_callbacks_fails_unknown_and_refunds(
    rig: Rig,
) -> None:
    """A createTask whose answer was lost is never resent; without callbacks it is refunded."""
    job = await rig.admitted(state=JobState.SUBMITTING, submitted_at=time.time())
    await rig.build().start()
    job = await rig.wait(job.id)
    assert job.state is JobState.FAILED
    assert job.fail_code == Failure.UNKNOWN.value
    assert rig.kie.created == []
    assert rig.ledger.refunded == [job.id]
    assert [f.failure for f in rig.delivery.failures] == [Failure.UNKNOWN]


async def test_unknown_outcome_is_adopted_by_a_late_callback(rig: Rig) -> None:
    """With callbacks on, a callback naming the job's task adopts it and the job is delivered."""
    rig.config = EngineConfig(
        callback_base_url="https://bot.example", default_expected={"1K": 0.05}
    )
    rig.kie.create_error = KieOutcomeUnknown(
        "timed out", request=CreateTaskRequest(prompt="a red fox")
    )
    engine = rig.build()
    await engine.start()
    job = await rig.admitted()
    await engine.accept(job)
    job = await rig.wait(job.id, lambda j: j.state is JobState.SUBMITTING)
    # kie did make the task: its callback URL carries the job's token.
    request = CreateTaskRequest(prompt="a red fox", callback_url=engine.callback_url(job))
    rig.kie.created.append(request)
    callback = TaskRecord(task_id="task-1", model="m", state=TaskState.SUCCESS, param="")
    assert await engine.on_callback(job, callback)
    job = await rig.wait(job.id)
    assert job.state is JobState.DELIVERED
    assert job.task_id == "task-1"


async def test_callback_naming_another_task_is_refused(rig: Rig) -> None:
    """A callback whose task id is not the job's own changes nothing."""
    rig.kie.final = "never"
    engine = rig.build()
    job = await rig.admitted(state=JobState.RUNNING, task_id="task-9", submitted_at=time.time())
    other = TaskRecord(task_id="task-1", model="m", state=TaskState.SUCCESS, param="")
    assert not await engine.on_callback(job, other)
    assert (await rig.wait(job.id, lambda j: True)).state is JobState.RUNNING


async def test_cancel_while_queued_sends_nothing_and_refunds(rig: Rig) -> None:
    """A job cancelled before its turn never reaches kie and is fully refunded."""
    engine = rig.build()  # not started: the job waits in line
    job = await rig.admitted()
    await engine.accept(job)
    assert engine.position(job.id) == 1
    cancelled = await engine.cancel(job.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert engine.position(job.id) is None
    await engine.start()
    await asyncio.sleep(0.1)
    assert rig.kie.created == []
    assert rig.ledger.refunded == [job.id]
    assert rig.delivery.cancellations == [job.id]


async def test_cancel_after_delivery_is_too_late(rig: Rig) -> None:
    """A delivered job can't be cancelled (None), and nothing is refunded."""
    job = await run(rig, await rig.admitted())
    assert rig.engine is not None
    assert await rig.engine.cancel(job.id) is None
    assert rig.ledger.refunded == []


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        (401, Failure.KEY_REFUSED),
        (402, Failure.NO_CREDITS),
        (422, Failure.REQUEST_REFUSED),
        (433, Failure.KEY_CAPPED),
        (505, Failure.MODEL_OFF),
    ],
)
async def test_each_create_task_refusal_names_its_case(
    rig: Rig, code: int, failure: Failure
) -> None:
    """A createTask kie refuses ends the job with the case for that answer, refunded."""
    rig.kie.create_error = error_for_code(code, "no")
    job = await run(rig, await rig.admitted())
    assert job.state is JobState.FAILED
    assert job.fail_code == failure.value
    assert job.fail_message == failure.text()
    assert [f.failure for f in rig.delivery.failures] == [failure]
    assert rig.ledger.refunded == [job.id]


@pytest.mark.parametrize(
    ("fail_msg", "failure"),
    [
        ("Your prompt contains prohibited content", Failure.CONTENT_REFUSED),
        ("Invalid prompt", Failure.PROMPT_REFUSED),
        ("Internal error", Failure.TASK_FAILED),
    ],
)
async def test_a_failed_task_names_its_case_and_keeps_its_credits(
    rig: Rig, fail_msg: str, failure: Failure
) -> None:
    """A task kie fails is refunded, with kie's credits still recorded on the job."""
    rig.kie.final, rig.kie.fail_msg = "fail", fail_msg
    job = await run(rig, await rig.admitted())
    assert job.fail_code == failure.value
    assert job.credits_consumed == 5.0
    assert rig.ledger.refunded == [job.id]


async def test_no_images_from_kie_fails_the_job(rig: Rig) -> None:
    """A success with no result URLs is a failure, refunded."""
    rig.kie.result_urls = ()
    job = await run(rig, await rig.admitted())
    assert job.fail_code == Failure.NO_IMAGES.value
    assert rig.ledger.refunded == [job.id]


async def test_images_that_cannot_be_downloaded_fail_the_job(rig: Rig) -> None:
    """When no image downloads, the job fails and nothing is posted."""
    rig.downloads = [DownloadFailed("gone", url=RESULT_URL)]
    job = await run(rig, await rig.admitted())
    assert job.fail_code == Failure.DOWNLOAD.value
    assert rig.delivery.posted == []


async def test_a_refused_post_names_the_refusal(rig: Rig) -> None:
    """The chat side refusing for good (no permission) fails the job with that case."""
    rig.delivery.post_errors = [PostRefused(Failure.CANNOT_POST)]
    job = await run(rig, await rig.admitted())
    assert job.fail_code == Failure.CANNOT_POST.value
    assert rig.ledger.refunded == [job.id]


async def test_a_transient_post_error_is_retried(rig: Rig) -> None:
    """One failed upload is retried and the result still arrives once."""
    rig.delivery.post_errors = [ConnectionResetError("reset")]
    job = await run(rig, await rig.admitted())
    assert job.state is JobState.DELIVERED
    assert len(rig.delivery.posted) == 1


async def test_a_task_that_never_ends_times_out(rig: Rig) -> None:
    """Past `give_up_after` the job fails with the minutes waited, refunded."""
    rig.kie.final = "never"
    rig.config = EngineConfig(give_up_after=0.3, default_expected={"1K": 0.05})
    job = await run(rig, await rig.admitted())
    assert job.fail_code == Failure.TIMEOUT.value
    assert job.fail_message == Failure.TIMEOUT.text(minutes=0)
    assert rig.ledger.refunded == [job.id]


async def test_progress_shows_place_in_line_then_kie_state(rig: Rig) -> None:
    """Queued members see their place; a running job shows kie's state with an eta."""
    engine = rig.build()
    first, second = await rig.admitted(), await rig.admitted(user_id=4)
    await engine.accept(first)
    await engine.accept(second)
    assert (engine.position(first.id), engine.position(second.id)) == (1, 2)
    await engine.start()
    await rig.wait(second.id)
    states = {state for state, _ in rig.delivery.progress_seen}
    assert JobState.RUNNING in states
    assert any(p.eta is not None for _, p in rig.delivery.progress_seen)


async def test_shutdown_keeps_queued_jobs_for_the_next_start(rig: Rig) -> None:
    """Jobs still waiting when the engine stops stay QUEUED and run after the next start."""
    engine = rig.build()
    job = await rig.admitted()
    await engine.accept(job)
    await engine.shutdown(timeout=1)
    assert not engine.accepting
    assert (await rig.wait(job.id, lambda j: True)).state is JobState.QUEUED
    await rig.build().start()
    assert (await rig.wait(job.id)).state is JobState.DELIVERED


async def test_an_unconfirmed_job_waits_without_holding_a_worker(rig: Rig) -> None:
    """With callbacks on, an unknown createTask outcome waits visibly; the line goes on."""
    rig.config = EngineConfig(
        callback_base_url="https://bot.example", submit_workers=1, default_expected={"1K": 0.05}
    )
    unknown = KieOutcomeUnknown("timed out", request=CreateTaskRequest(prompt="a red fox"))
    engine = rig.build()
    await engine.start()
    first = await rig.admitted()
    rig.kie.create_error = unknown
    await engine.accept(first)
    await rig.wait(first.id, lambda j: j.state is JobState.SUBMITTING)
    await asyncio.sleep(0.05)
    rig.kie.create_error = None
    second = await rig.admitted(user_id=4)
    await engine.accept(second)
    # The only worker went on to the next job while the first one waits for kie's word.
    second = await rig.wait(second.id, lambda j: j.state is JobState.RUNNING)
    assert second.task_id == "task-1"
    assert (await rig.wait(first.id, lambda j: True)).state is JobState.SUBMITTING
    assert any(p.unconfirmed for _, p in rig.delivery.progress_seen)
    assert rig.ledger.refunded == []


async def test_a_callback_while_create_task_is_unanswered_is_acted_on_at_once(rig: Rig) -> None:
    """kie's callback can beat its createTask answer: the job is adopted and delivered."""
    rig.config = EngineConfig(
        callback_base_url="https://bot.example", default_expected={"1K": 0.05}
    )
    answer = asyncio.Event()
    create = rig.kie.create_task

    async def slow_create(request: CreateTaskRequest, /, **kw: Any) -> str:
        task_id = await create(request, **kw)
        await answer.wait()  # the answer is slow to come back
        return task_id

    rig.kie.create_task = slow_create  # type: ignore[method-assign]
    engine = rig.build()
    await engine.start()
    job = await rig.admitted()
    await engine.accept(job)
    job = await rig.wait(job.id, lambda j: j.state is JobState.SUBMITTING)
    await asyncio.sleep(0.05)
    assert len(rig.kie.created) == 1
    record = TaskRecord(task_id="task-1", model="m", state=TaskState.SUCCESS, param="")
    assert await engine.on_callback(job, record)
    delivered = await rig.wait(job.id)
    assert delivered.state is JobState.DELIVERED
    answer.set()  # the createTask answer finally arrives: nothing more happens
    await asyncio.sleep(0.1)
    assert len(rig.delivery.posted) == 1
    assert len(rig.kie.created) == 1


async def test_a_failed_confirmation_read_is_retried(rig: Rig) -> None:
    """If recordInfo fails while confirming a callback's task, it is asked again."""
    rig.config = EngineConfig(
        callback_base_url="https://bot.example",
        default_expected={"1K": 0.05},
        confirm_backoff=0.01,
    )
    get = rig.kie.get_task
    failures = [error_for_code(429, "slow down")]

    async def flaky_get(task_id: str, /) -> TaskRecord:
        if failures:
            raise failures.pop()
        return await get(task_id)

    rig.kie.get_task = flaky_get  # type: ignore[method-assign]
    rig.kie.create_error = KieOutcomeUnknown("lost", request=CreateTaskRequest(prompt="x"))
    engine = rig.build()
    await engine.start()
    job = await rig.admitted()
    await engine.accept(job)
    job = await rig.wait(job.id, lambda j: j.state is JobState.SUBMITTING)
    rig.kie.created.append(CreateTaskRequest(prompt="x", callback_url=engine.callback_url(job)))
    record = TaskRecord(task_id="task-1", model="m", state=TaskState.SUCCESS, param="")
    assert await engine.on_callback(job, record)
    assert (await rig.wait(job.id)).state is JobState.DELIVERED


async def test_kie_rate_limit_keeps_the_job_waiting_and_never_fails_it(rig: Rig) -> None:
    """A 429 on createTask puts the job back in line (member told), then it runs."""
    rig.kie.create_error = error_for_code(429, "slow down", retry_after=0.2)
    engine = rig.build()
    await engine.start()
    job = await rig.admitted()
    await engine.accept(job)
    await rig.wait(job.id, lambda j: any(p.kie_busy for _, p in rig.delivery.progress_seen))
    assert (await rig.wait(job.id, lambda j: True)).state is JobState.QUEUED
    rig.kie.create_error = None
    job = await rig.wait(job.id)
    assert job.state is JobState.DELIVERED
    assert rig.ledger.refunded == []


async def test_long_maintenance_gives_up_with_a_refund(rig: Rig) -> None:
    """kie's 455 past `maintenance_give_up` ends the job, refunded, saying why."""
    rig.config = EngineConfig(maintenance_give_up=0.0, default_expected={"1K": 0.05})
    rig.kie.create_error = error_for_code(455, "maintenance", retry_after=0.05)
    job = await run(rig, await rig.admitted())
    assert job.fail_code == Failure.MAINTENANCE.value
    assert rig.ledger.refunded == [job.id]


def _two_parts(rig: Rig) -> None:
    """Make results of two images that need one message each."""
    images = [as_download(noise_jpeg(160, 160, seed=n), f"{RESULT_URL}?{n}") for n in (1, 2)]
    rig.downloads = list(images)
    rig.kie.result_urls = tuple(i.url for i in images)
    # Too little room for both even re-encoded (64 KiB is kept for the request's framing).
    rig.delivery.upload_limit_bytes = DEFAULT_HEADROOM + 20_000


async def test_a_result_in_two_parts_stores_its_plan_and_posts_each_once(rig: Rig) -> None:
    """The plan is written with the job; both parts go out; the quota settles to 2."""
    _two_parts(rig)
    job = await run(rig, await rig.admitted())
    assert job.state is JobState.DELIVERED
    assert job.delivery_plan == ((0,), (1,))
    assert [p.index for p in rig.delivery.posted] == [0, 1]
    assert rig.ledger.settled == {job.id: 2}


async def test_part_two_refused_delivers_part_one_and_charges_only_it(rig: Rig) -> None:
    """A partial delivery settles to the images posted and says exactly that."""
    _two_parts(rig)
    rig.delivery.post_errors = []
    post = rig.delivery.post_result

    async def refuse_second(job: Job, part: ResultPart) -> str:
        if part.index == 1:
            raise PostRefused(Failure.CANNOT_POST)
        return await post(job, part)

    rig.delivery.post_result = refuse_second  # type: ignore[method-assign]
    job = await run(rig, await rig.admitted())
    assert job.state is JobState.DELIVERED
    assert job.images_delivered == 1
    assert job.fail_code == Failure.PARTIAL.value
    assert rig.ledger.settled == {job.id: 1}
    assert rig.ledger.refunded == []
    [told] = rig.delivery.failures
    assert told.failure is Failure.PARTIAL and "1 of the 2" in told.text


async def test_a_resumed_delivery_skips_a_part_that_landed_before_the_crash(rig: Rig) -> None:
    """The chat already shows part 1 (posted just before a crash): only part 2 is posted."""
    _two_parts(rig)
    rig.delivery.already_posted = 1
    job = await rig.admitted(
        state=JobState.DELIVERING,
        task_id="task-1",
        submitted_at=time.time(),
        result_urls=rig.kie.result_urls,
        delivery_plan=((0,), (1,)),
    )
    await rig.build().start()
    job = await rig.wait(job.id)
    assert job.state is JobState.DELIVERED
    assert [p.index for p in rig.delivery.posted] == [1]
    assert rig.ledger.settled == {job.id: 2}


async def test_a_delivery_fully_posted_before_a_crash_only_settles(rig: Rig) -> None:
    """Every part out, the settle lost: the restart downloads nothing and posts nothing."""
    rig.downloads = []  # the links have expired meanwhile
    job = await rig.admitted(
        state=JobState.DELIVERING,
        task_id="task-1",
        submitted_at=time.time(),
        result_urls=(RESULT_URL,),
        delivery_plan=((0,),),
        parts_delivered=1,
    )
    await rig.build().start()
    job = await rig.wait(job.id)
    assert job.state is JobState.DELIVERED
    assert rig.delivery.posted == []
    assert rig.delivery.failures == []
    assert rig.ledger.settled == {job.id: 1}


async def test_a_cancelled_tasks_cost_is_followed_after_a_restart(rig: Rig) -> None:
    """kie bills a task that runs on after a cancel; a restart still records it."""
    rig.kie.created.append(CreateTaskRequest(prompt="a red fox"))
    job = await rig.admitted(
        state=JobState.CANCELLED,
        task_id="task-1",
        submitted_at=time.time(),
        finished_at=time.time(),
        kie_state="generating",
    )
    await rig.build().start()
    job = await rig.wait(job.id, lambda j: j.credits_consumed is not None)
    assert job.credits_consumed == 5.0
    assert job.state is JobState.CANCELLED


async def test_an_image_that_never_downloads_is_not_charged_and_the_member_is_told(
    rig: Rig,
) -> None:
    """One of two images stalls: the other is posted, the quota settles to 1, and it says so."""
    image = as_download(noise_jpeg(64, 64, seed=1), RESULT_URL)
    rig.kie.result_urls = (RESULT_URL, f"{RESULT_URL}?2")
    rig.downloads = [image, DownloadFailed("stalled", url=f"{RESULT_URL}?2")]
    job = await run(rig, await rig.admitted())
    assert job.state is JobState.DELIVERED
    assert job.images_delivered == 1
    assert rig.ledger.settled == {job.id: 1}
    [told] = rig.delivery.failures
    assert told.text.startswith("Only 1 of the 2 images could be posted")
