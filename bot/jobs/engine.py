"""The job engine: queue, submit, watch, deliver, fail, cancel, resume. No discord import.

Every step is written to the database before it takes effect, so a crash at any point
leaves a row that says what to do next (see `resume`):

    QUEUED ──► SUBMITTING ──► RUNNING ──► DELIVERING ──► DELIVERED
       │            │            │             │
       └────────────┴────────────┴─────────────┴──► FAILED | CANCELLED

A createTask whose outcome is unknown (timeout, crash while SUBMITTING) is never sent
again: with callbacks on, a late callback carrying the job's token adopts the task; without
them, or when none comes in time, the job fails and its quota is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from bot import metrics
from bot.errors import UserFacingError
from bot.images import CannotFit, DownloadedImage, download_all, plan_messages
from bot.jobs.delivery import Delivery, Progress, ResultPart
from bot.jobs.models import UNFINISHED, InteractionRef, Job, JobOptions, JobState
from bot.jobs.outcomes import message_for_error, message_for_failed_task
from bot.jobs.polling import DEFAULT_EXPECTED, GIVE_UP_AFTER, PollPlan
from bot.jobs.prompt import prompt_for_kie
from bot.jobs.queue import FairQueue
from bot.kie import (
    CreateTaskRequest,
    KieClient,
    KieError,
    KieOutcomeUnknown,
    KieTaskNotFound,
    KieUnauthorized,
    TaskRecord,
    TaskState,
    parse_callback,
)
from bot.kie import signature as kie_signature
from bot.store.jobs import JobStore

__all__ = ["EngineConfig", "JobEngine", "JobRequest", "QuotaLedger", "TooManyJobs", "Unlimited"]

log = logging.getLogger(__name__)

ACTIVE_KIE_STATES = ("waiting", "queuing", "generating")


class _JobGone(Exception):
    """The job left the queue (cancelled) before its createTask was sent."""


def _ctx(job: Job) -> str:
    """Return the ids every job log line carries (never the prompt: it is user content)."""
    return f"job={job.id} guild={job.guild_id} channel={job.channel_id} task={job.task_id or '-'}"


def _count(job: Job) -> None:
    metrics.JOB_TRANSITIONS.labels(state=job.state.value).inc()


class TooManyJobs(UserFacingError):
    """The member already has as many jobs in flight as the server allows."""


class QuotaLedger(Protocol):
    """Reserve images before createTask; settle or refund when the job ends."""

    async def reserve(
        self,
        *,
        job_id: str,
        guild_id: int,
        channel_id: int,
        user_id: int,
        role_ids: Sequence[int],
        images: int,
        now: float,
    ) -> object:
        """Reserve `images` in every applicable limit at once, or raise a UserFacingError."""

    async def settle(self, job_id: str, delivered: int) -> None:
        """Reduce the job's reservation to the images actually delivered."""

    async def refund(self, job_id: str) -> None:
        """Release the job's whole reservation."""


class Unlimited:
    """A ledger that never refuses (no limits configured, or tests of the engine alone)."""

    async def reserve(self, **_: Any) -> object:
        return None

    async def settle(self, job_id: str, delivered: int) -> None:
        return None

    async def refund(self, job_id: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A validated /imagine request, ready to become a job."""

    guild_id: int
    channel_id: int
    user_id: int
    options: JobOptions
    role_ids: tuple[int, ...] = ()
    # The channel whose quota total applies (a thread's parent); defaults to channel_id.
    quota_channel_id: int | None = None
    interaction: InteractionRef | None = None
    spoiler: bool = False
    parent_job_id: str | None = None


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Knobs of the engine; defaults are the production values."""

    result_hosts: tuple[str, ...]
    max_jobs_per_member: int = 2
    callback_base_url: str | None = None
    hmac_key: str | None = None
    submit_workers: int = 4
    give_up_after: float = GIVE_UP_AFTER
    # How long a job whose createTask outcome is unknown waits for a late callback.
    unknown_outcome_grace: float = 180.0
    default_upload_limit: int = 10 * 1024 * 1024
    delivery_attempts: int = 3
    max_image_bytes: int = 40 * 1024 * 1024
    download_timeout: float = 60.0
    user_agent: str = "Mozilla/5.0"
    # Expected kie durations by resolution, used until recent jobs tell us better.
    default_expected: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EXPECTED))


class JobEngine:
    """Runs every job from request to delivery, surviving restarts."""

    def __init__(
        self,
        *,
        store: JobStore,
        kie: KieClient,
        delivery: Delivery,
        http_session: aiohttp.ClientSession,
        config: EngineConfig,
        quota: QuotaLedger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.kie = kie
        self.delivery = delivery
        self.http_session = http_session
        self.config = config
        self.quota: QuotaLedger = quota or Unlimited()
        self.clock = clock
        self.queue = FairQueue()
        self._wakes: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deliveries: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[None]] = []
        # Submissions under way (task → job id), and the jobs whose createTask is on the wire.
        self._submits: dict[asyncio.Future[None], str] = {}
        self._sending: set[str] = set()
        self._member_locks: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._positions_task: asyncio.Task[None] | None = None
        self.accepting = True

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume unfinished jobs and start the submit workers."""
        await self.resume()
        self._workers = [
            asyncio.create_task(self._submit_worker(), name=f"kie-submit-{i}")
            for i in range(self.config.submit_workers)
        ]

    async def resume(self) -> None:
        """Pick up every unfinished job where its row says it stopped."""
        jobs = await self.store.unfinished()
        for job in jobs:
            if job.state is JobState.QUEUED:
                await self.queue.put(job.user_id, job.id)
            elif job.state is JobState.SUBMITTING:
                self._spawn(self._reconcile_unknown(job), job)
            elif job.state is JobState.RUNNING:
                self._spawn(self._watch(job), job)
            elif job.state is JobState.DELIVERING:
                self._spawn_delivery(job)
        if jobs:
            log.info("resumed %d unfinished job(s)", len(jobs))
            self._announce_positions_soon()

    async def shutdown(self, timeout: float = 20.0) -> None:
        """Stop taking work, let what is under way finish within `timeout`, keep the rest.

        Queued and running jobs stay in the database exactly as they are; the next start
        resumes them. A submission still waiting for a createTask slot is cut (its job is
        still QUEUED); one whose request is on the wire is let finish, so that its task id
        is recorded. Only a delivery cut off by the timeout may post one part twice.
        """
        self.accepting = False
        for worker in self._workers:
            worker.cancel()
        if self._positions_task:
            self._positions_task.cancel()
        for task, job_id in list(self._submits.items()):
            if job_id not in self._sending:
                task.cancel()
        finishing = [*self._submits, *self._deliveries]
        if finishing:
            _, pending = await asyncio.wait(finishing, timeout=timeout)
            if pending:
                log.warning(
                    "%d submission(s)/delivery(ies) cut off by shutdown; they resume on start",
                    len(pending),
                )
        everything = [*self._workers, *self._submits, *self._tasks, *self._deliveries]
        for task in everything:
            task.cancel()
        await asyncio.gather(*everything, return_exceptions=True)

    def _spawn(self, coro: Awaitable[None], job: Job) -> None:
        task = asyncio.ensure_future(self._guard(coro, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_delivery(self, job: Job) -> None:
        task = asyncio.ensure_future(self._guard(self._run_delivery(job), job))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _guard(self, coro: Awaitable[None], job: Job) -> None:
        """Run a job step; an unexpected error fails the job instead of vanishing."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: unexpected error", _ctx(job))
            await self._fail(
                job.id, "Something went wrong on our side. Nothing was charged.", code="internal"
            )

    # -- requests from members -------------------------------------------------------------

    async def submit(self, request: JobRequest) -> Job:
        """Reserve quota and queue a new job; raise a UserFacingError to refuse it."""
        if not self.accepting:
            raise UserFacingError("The bot is restarting; please try again in a minute.")
        key = (request.guild_id, request.user_id)
        lock = self._member_locks.get(key)
        if lock is None:
            lock = self._member_locks[key] = asyncio.Lock()
        async with lock:
            in_flight = await self.store.in_flight(request.guild_id, request.user_id)
            limit = self.config.max_jobs_per_member
            if len(in_flight) >= limit:
                raise TooManyJobs(
                    f"You already have {len(in_flight)} image request(s) in progress "
                    f"(the limit is {limit}). Wait for one to finish, or cancel it."
                )
            now = self.clock()
            job = Job(
                id=uuid.uuid4().hex,
                callback_token=secrets.token_urlsafe(32),
                guild_id=request.guild_id,
                channel_id=request.channel_id,
                user_id=request.user_id,
                state=JobState.QUEUED,
                options=request.options,
                created_at=now,
                updated_at=now,
                spoiler=request.spoiler,
                parent_job_id=request.parent_job_id,
                interaction=request.interaction,
            )
            await self.quota.reserve(
                job_id=job.id,
                guild_id=job.guild_id,
                channel_id=request.quota_channel_id or job.channel_id,
                user_id=job.user_id,
                role_ids=request.role_ids,
                images=job.options.images,
                now=now,
            )
            try:
                await self.store.insert(job)
            except BaseException:
                await self.quota.refund(job.id)
                raise
        await self.queue.put(job.user_id, job.id)
        log.info("%s queued: user=%s images=%d", _ctx(job), job.user_id, job.options.images)
        # Prompts are user content: only at DEBUG, and shortened.
        log.debug("%s prompt: %.120r", _ctx(job), job.options.prompt)
        _count(job)
        self._announce_positions_soon()
        return job

    async def cancel(self, job_id: str, user_id: int) -> Job:
        """Cancel a job for its requester and refund it; raise UserFacingError if too late."""
        job = await self.store.get(job_id)
        if job is None:
            raise UserFacingError("That request no longer exists.")
        if job.user_id != user_id:
            raise UserFacingError("Only the member who asked for these images can cancel them.")
        cancellable = {JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING}
        cancelled = await self._finish(
            job_id, JobState.CANCELLED, expect=cancellable, fail_message="cancelled by requester"
        )
        if cancelled is None:
            raise UserFacingError("Too late to cancel: the images are already being delivered.")
        self.queue.remove(job_id)
        await self.quota.refund(job_id)
        self._wake(job_id)
        log.info("%s cancelled by its requester", _ctx(cancelled))
        if cancelled.task_id is not None:
            self._spawn(self._record_cost(cancelled), cancelled)
        with contextlib.suppress(Exception):
            await self.delivery.cancelled(cancelled)
        return cancelled

    # -- submission ------------------------------------------------------------------------

    async def _submit_worker(self) -> None:
        while True:
            job_id = await self.queue.get()
            self._announce_positions_soon()
            job = await self.store.get(job_id)
            if job is None or job.state is not JobState.QUEUED:
                continue  # cancelled while queued
            task = asyncio.ensure_future(self._guard(self._submit(job), job))
            self._submits[task] = job.id
            task.add_done_callback(lambda t: self._submits.pop(t, None))
            # Shielded: shutdown decides per submission whether it may be cut (see there).
            await asyncio.shield(task)

    def callback_url(self, job: Job) -> str | None:
        """Return the callback URL for this job (its token makes it unguessable)."""
        base = self.config.callback_base_url
        return f"{base.rstrip('/')}/kie/callback/{job.callback_token}" if base else None

    async def _submit(self, job: Job) -> None:
        """Send createTask; the row says SUBMITTING only once the request is about to leave."""
        request = CreateTaskRequest(
            prompt=prompt_for_kie(job.options.prompt, job.options.images),
            image_size=job.options.size,
            image_resolution=job.options.resolution,
            max_images=job.options.images,
            seed=job.options.seed,
            nsfw_checker=job.options.safety,
            callback_url=self.callback_url(job),
        )

        async def mark_sending() -> None:
            nonlocal job
            # From here on the submission must not be cut by a shutdown: mark it first.
            self._sending.add(job.id)
            now = self.clock()
            updated = await self.store.update(
                job.id,
                expect={JobState.QUEUED},
                state=JobState.SUBMITTING,
                submitted_at=now,
                updated_at=now,
            )
            if updated is None:
                raise _JobGone  # cancelled while waiting for a createTask slot
            job = updated

        try:
            try:
                task_id = await self.kie.create_task(request, before_send=mark_sending)
            except _JobGone:
                return
            except KieOutcomeUnknown:
                log.warning("%s: createTask outcome unknown; reconciling, not resending", _ctx(job))
                await self._reconcile_unknown(job)
                return
            except KieError as exc:
                log.info("%s: createTask refused: %s", _ctx(job), exc)
                await self._fail(job.id, message_for_error(exc), code=str(exc.code or "error"))
                return
            # Still "sending" until the task id is written, or a shutdown could cut it here.
            await self._adopt(job, task_id)
        finally:
            self._sending.discard(job.id)

    async def _adopt(self, job: Job, task_id: str) -> None:
        """Record that kie knows the job as `task_id` and start watching it."""
        running = await self.store.update(
            job.id,
            expect={JobState.SUBMITTING},
            state=JobState.RUNNING,
            task_id=task_id,
            kie_state="waiting",
            updated_at=self.clock(),
        )
        if running is None:
            # Cancelled meanwhile: keep the task id so the money trail stays complete.
            cancelled = await self.store.update(job.id, task_id=task_id)
            if cancelled is not None:
                self._spawn(self._record_cost(cancelled), cancelled)
            return
        log.info("%s: kie task %s created", _ctx(job), task_id)
        _count(running)
        self._spawn(self._watch(running), running)

    async def _reconcile_unknown(self, job: Job) -> None:
        """Wait for a late callback to name the task; otherwise fail and refund."""
        if self.config.callback_base_url:
            started = job.submitted_at or job.created_at
            remaining = started + self.config.unknown_outcome_grace - self.clock()
            wake = self._wakes.setdefault(job.id, asyncio.Event())
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), remaining)
            current = await self.store.get(job.id)
            if current is None or current.state is not JobState.SUBMITTING:
                return  # a callback adopted it, or it was cancelled
        await self._fail(
            job.id,
            "kie.ai did not confirm the request, so it was not retried (that could pay "
            "twice). Nothing was taken from your quota; please try again.",
            code="unknown",
        )

    # -- watching --------------------------------------------------------------------------

    async def _plan(self, job: Job) -> PollPlan:
        durations = await self.store.recent_durations(
            size=job.options.size.value,
            resolution=job.options.resolution.value,
            images=job.options.images,
        )
        return PollPlan.from_history(
            durations,
            resolution=job.options.resolution.value,
            images=job.options.images,
            callbacks=self.config.callback_base_url is not None,
            default_expected=self.config.default_expected,
        )

    async def _watch(self, job: Job) -> None:
        """Poll kie (or wait for its callback) until the task ends, then deliver or fail."""
        assert job.task_id is not None and job.submitted_at is not None
        plan = await self._plan(job)
        eta = job.submitted_at + (plan.window_start + plan.window_end) / 2
        await self._progress(job, Progress(eta=eta))
        wake = self._wakes.setdefault(job.id, asyncio.Event())
        try:
            while True:
                elapsed = self.clock() - job.submitted_at
                if elapsed > self.config.give_up_after:
                    minutes = int(self.config.give_up_after // 60)
                    await self._fail(
                        job.id,
                        f"kie.ai did not finish within {minutes} minutes, so we stopped "
                        "waiting. Nothing was charged to your quota.",
                        code="timeout",
                    )
                    return
                delay = min(plan.next_check(elapsed), self.config.give_up_after + 0.5) - elapsed
                if delay > 0 and not wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), delay)
                wake.clear()
                current = await self.store.get(job.id)
                if current is None or current.state is not JobState.RUNNING:
                    return  # cancelled
                job = current
                assert job.task_id is not None
                try:
                    record = await self.kie.get_task(job.task_id)
                except KieTaskNotFound:
                    await self._fail(
                        job.id,
                        "kie.ai has no record of this request any more. "
                        "Nothing was charged to your quota.",
                        code="422",
                    )
                    return
                except KieUnauthorized as exc:
                    await self._fail(job.id, message_for_error(exc), code="401")
                    return
                except KieError as exc:
                    log.warning("%s: recordInfo failed (%s); will retry", _ctx(job), exc)
                    continue
                if record.state is TaskState.SUCCESS:
                    await self._succeeded(job, record)
                    return
                if record.state is TaskState.FAIL:
                    await self._task_failed(job, record)
                    return
                if record.state.value != job.kie_state:
                    updated = await self.store.update(
                        job.id,
                        expect={JobState.RUNNING},
                        kie_state=record.state.value,
                        updated_at=self.clock(),
                    )
                    if updated is None:
                        return
                    job = updated
                    _count(job)
                    await self._progress(job, Progress(eta=eta))
        finally:
            self._wakes.pop(job.id, None)

    async def _record_cost(self, job: Job) -> None:
        """Follow a cancelled job's task to its end, only to record what kie charged for it.

        kie has no cancel endpoint: the task runs on and is billed, and usage reports must
        show that money even though the member was refunded and sees nothing more.
        """
        assert job.task_id is not None
        plan = await self._plan(job)
        started = job.submitted_at or job.created_at
        elapsed = self.clock() - started
        while elapsed <= self.config.give_up_after:
            await asyncio.sleep(max(plan.next_check(elapsed) - elapsed, 0.0))
            try:
                record = await self.kie.get_task(job.task_id)
            except KieError as exc:
                if isinstance(exc, KieTaskNotFound | KieUnauthorized):
                    return
                record = None
            if record is not None and record.is_terminal:
                metrics.CREDITS_CONSUMED.inc(record.credits_consumed)
                await self.store.update(
                    job.id, kie_state=record.state.value, credits_consumed=record.credits_consumed
                )
                log.info(
                    "%s: cancelled task ended; kie charged %s credits",
                    _ctx(job),
                    record.credits_consumed,
                )
                return
            elapsed = self.clock() - started

    def _wake(self, job_id: str) -> None:
        event = self._wakes.get(job_id)
        if event is not None:
            event.set()

    async def handle_callback(
        self, token: str, payload: Mapping[str, Any], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        """Take kie's callback for the job with `token`; return (HTTP status, reason).

        The callback only wakes the job: recordInfo stays the source of truth, so a forged
        or replayed body can at most cause one extra poll.
        """
        job = await self.store.by_callback_token(token)
        if job is None:
            return 404, "unknown job"
        if self.config.hmac_key is not None and not kie_signature.verify(
            self.config.hmac_key, payload, headers, now=self.clock()
        ):
            log.warning("%s: callback with a bad or missing signature refused", _ctx(job))
            return 401, "bad signature"
        try:
            record = parse_callback(payload).record
        except KieError as exc:
            return 400, f"unreadable callback: {exc}"
        if job.state is JobState.SUBMITTING and job.task_id is None:
            await self._adopt_from_callback(job, record)
        elif job.task_id != record.task_id:
            return 400, "task id does not match this job"
        self._wake(job.id)
        return 200, "ok"

    async def _adopt_from_callback(self, job: Job, record: TaskRecord) -> None:
        """Confirm with recordInfo that the callback's task is ours, then adopt it."""
        try:
            confirmed = await self.kie.get_task(record.task_id)
        except KieError as exc:
            log.warning("%s: could not confirm task %s: %s", _ctx(job), record.task_id, exc)
            return
        if job.callback_token not in confirmed.param:
            log.warning("%s: task %s does not carry this job's token", _ctx(job), record.task_id)
            return
        await self._adopt(job, confirmed.task_id)
        self._wake(job.id)

    # -- outcomes --------------------------------------------------------------------------

    async def _task_failed(self, job: Job, record: TaskRecord) -> None:
        log.info("%s: kie task failed: code=%s", _ctx(job), record.fail_code)
        metrics.CREDITS_CONSUMED.inc(record.credits_consumed)
        await self.store.update(job.id, credits_consumed=record.credits_consumed)
        await self._fail(job.id, message_for_failed_task(record), code=record.fail_code or "fail")

    async def _succeeded(self, job: Job, record: TaskRecord) -> None:
        took = None
        if record.complete_time and record.create_time:
            took = (record.complete_time - record.create_time) / 1000
        delivering = await self.store.update(
            job.id,
            expect={JobState.RUNNING},
            state=JobState.DELIVERING,
            kie_state=record.state.value,
            result_urls=record.result_urls,
            credits_consumed=record.credits_consumed,
            cost_time=took if took is not None and took > 0 else None,
            kie_finished_at=self.clock(),
            updated_at=self.clock(),
        )
        if delivering is None:
            return
        metrics.CREDITS_CONSUMED.inc(record.credits_consumed)
        _count(delivering)
        # Deliveries are tracked apart so a shutdown can let them finish.
        self._spawn_delivery(delivering)

    async def _run_delivery(self, job: Job) -> None:
        """Download the results, fit them to Discord's limit, and post what is not yet posted."""
        if not job.result_urls:
            await self._fail(
                job.id,
                "kie.ai finished but returned no images. Nothing was charged to your quota.",
                code="empty",
            )
            return
        results = await download_all(
            self.http_session,
            list(job.result_urls),
            allowed_hosts=self.config.result_hosts,
            max_bytes=self.config.max_image_bytes,
            timeout=self.config.download_timeout,
            user_agent=self.config.user_agent,
        )
        images: list[DownloadedImage] = []
        originals: dict[int, str] = {}
        for url, result in zip(job.result_urls, results, strict=True):
            if isinstance(result, Exception):
                log.warning("%s: image %s not downloaded: %s", _ctx(job), len(images) + 1, result)
                continue
            images.append(result)
            originals[len(images)] = url
        if not images:
            await self._fail(
                job.id,
                "The images could not be downloaded from kie.ai. Nothing "
                "was charged to your quota.",
                code="download",
            )
            return
        limit = await self.delivery.upload_limit(job)
        try:
            plan = await plan_messages(
                images, limit_bytes=limit, spoiler=job.spoiler, stem=f"imagine_{job.id[:8]}"
            )
        except CannotFit:
            await self._fail(
                job.id,
                "The images could not be made small enough for this server's upload limit. "
                "Nothing was charged to your quota.",
                code="too-large",
            )
            return
        for index in range(job.parts_delivered, len(plan)):
            attachments = tuple(plan[index])
            shrunk = {
                a.original_index + 1: originals[a.original_index + 1]
                for a in attachments
                if a.reencoded
            }
            part = ResultPart(
                index=index, count=len(plan), attachments=attachments, originals=shrunk
            )
            via = await self._post_with_retries(job, part)
            if via is None:
                return
            metrics.DELIVERY_BYTES.inc(sum(a.size for a in attachments))
            updated = await self.store.update(
                job.id, parts_delivered=index + 1, delivered_via=via, updated_at=self.clock()
            )
            job = updated or job
        await self.quota.settle(job.id, len(images))
        done = await self._finish(
            job.id, JobState.DELIVERED, expect={JobState.DELIVERING}, images_delivered=len(images)
        )
        if done is not None:
            log.info(
                "%s delivered: %d image(s), %s credits",
                _ctx(job),
                len(images),
                done.credits_consumed,
            )

    async def _post_with_retries(self, job: Job, part: ResultPart) -> str | None:
        """Post one part, retrying transient failures; fail the job if it never goes out."""
        for attempt in range(1, self.config.delivery_attempts + 1):
            try:
                return await self.delivery.post_result(job, part)
            except UserFacingError as exc:
                await self._fail(job.id, exc.message, code="delivery")
                return None
            except Exception as exc:  # noqa: BLE001 - any transport error gets the same retry
                log.warning(
                    "%s: posting part %d failed (attempt %d): %r",
                    _ctx(job),
                    part.index + 1,
                    attempt,
                    exc,
                )
                await asyncio.sleep(min(2.0**attempt, 10.0))
        await self._fail(
            job.id,
            "The images were made but could not be posted here. Nothing was charged to your quota.",
            code="delivery",
        )
        return None

    async def _finish(
        self,
        job_id: str,
        state: JobState,
        *,
        expect: set[JobState] | frozenset[JobState],
        **fields: Any,
    ) -> Job | None:
        now = self.clock()
        job = await self.store.update(
            job_id, expect=expect, state=state, finished_at=now, updated_at=now, **fields
        )
        if job is not None:
            _count(job)
        return job

    async def _fail(self, job_id: str, message: str, *, code: str) -> None:
        """End a job as failed, refund its quota and tell the requester."""
        job = await self._finish(
            job_id, JobState.FAILED, expect=UNFINISHED, fail_code=code, fail_message=message
        )
        if job is None:
            return
        self.queue.remove(job_id)
        await self.quota.refund(job_id)
        log.info("%s failed (%s)", _ctx(job), code)
        try:
            await self.delivery.failed(job, message)
        except Exception:
            log.exception("%s: could not tell the requester it failed", _ctx(job))

    # -- progress --------------------------------------------------------------------------

    async def _progress(self, job: Job, progress: Progress) -> None:
        try:
            await self.delivery.progress(job, progress)
        except Exception as exc:  # noqa: BLE001 - progress is cosmetic; never fail a job on it
            log.debug("%s: progress not shown: %r", _ctx(job), exc)

    def _announce_positions_soon(self) -> None:
        """Tell queued members their new places, at most every couple of seconds."""
        if self._positions_task is None or self._positions_task.done():
            self._positions_task = asyncio.create_task(self._announce_positions())

    async def _announce_positions(self) -> None:
        await asyncio.sleep(0.5)  # batch a burst of arrivals into one round
        for position, job_id in enumerate(self.queue.order(), start=1):
            job = await self.store.get(job_id)
            if job is not None and job.state is JobState.QUEUED:
                await self._progress(job, Progress(queue_position=position))

    def position(self, job_id: str) -> int | None:
        """Return a queued job's place in line."""
        return self.queue.position(job_id)
