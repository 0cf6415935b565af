"""The job engine: the lifecycle only. No discord import.

Every step is written to the database before it takes effect, so a crash at any point
leaves a row that says what to do next (see `resume`):

    QUEUED ──► SUBMITTING ──► RUNNING ──► DELIVERING ──► DELIVERED
       │            │            │             │
       └────────────┴────────────┴─────────────┴──► FAILED | CANCELLED

Jobs come in already admitted (row written, quota reserved: `bot/control/admission.py`).
A createTask whose outcome is unknown (timeout, crash while SUBMITTING) is never sent
again: with callbacks on, a late callback carrying the job's token adopts the task; without
them, or when none comes in time, the job fails and its quota is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import metrics
from bot.jobs.models import UNFINISHED, Job, JobState
from bot.jobs.outcomes import Failed, Failure, failure_for_task
from bot.jobs.polling import DEFAULT_EXPECTED, GIVE_UP_AFTER, PollPlan
from bot.jobs.ports import Delivery, Download, KieTasks, Progress, QuotaLedger, Unlimited
from bot.jobs.queue import FairQueue
from bot.jobs.results import Delivered, Results
from bot.jobs.store import JobStore
from bot.jobs.submit import Created, Unconfirmed, send_create_task
from bot.jobs.watch import poll_plan, record_cost_after_cancel, watch_running
from bot.kie import KieError, TaskRecord, TaskState

__all__ = ["EngineConfig", "JobEngine"]

log = logging.getLogger(__name__)


def _count(job: Job) -> None:
    metrics.JOB_TRANSITIONS.labels(state=job.state.value).inc()


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Knobs of the engine; defaults are the production values."""

    callback_base_url: str | None = None
    submit_workers: int = 4
    give_up_after: float = GIVE_UP_AFTER
    # How long a job whose createTask outcome is unknown waits for a late callback.
    unknown_outcome_grace: float = 180.0
    delivery_attempts: int = 3
    # Expected kie durations by resolution, used until recent jobs tell us better.
    default_expected: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EXPECTED))


class JobEngine:
    """Runs every admitted job from the queue to delivery, surviving restarts."""

    def __init__(
        self,
        *,
        store: JobStore,
        kie: KieTasks,
        delivery: Delivery,
        download: Download,
        config: EngineConfig,
        quota: QuotaLedger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.kie = kie
        self.delivery = delivery
        self.config = config
        self.quota: QuotaLedger = quota or Unlimited()
        self.clock = clock
        self.results = Results(
            store=store,
            delivery=delivery,
            download=download,
            clock=clock,
            attempts=config.delivery_attempts,
        )
        self.queue = FairQueue()
        self._wakes: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deliveries: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[None]] = []
        # Submissions under way (task → job id), and the jobs whose createTask is on the wire.
        self._submits: dict[asyncio.Future[None], str] = {}
        self._sending: set[str] = set()
        self._positions_task: asyncio.Task[None] | None = None
        # False from the moment a shutdown begins: admission then refuses new requests.
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
        if not self.accepting:
            return
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
        # Deliveries are tracked apart so a shutdown can let them finish.
        task = asyncio.ensure_future(self._guard(self._deliver(job), job))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _guard(self, coro: Awaitable[None], job: Job) -> None:
        """Run a job step; an unexpected error fails the job instead of vanishing."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: unexpected error", job.ctx)
            await self._fail(job.id, Failed(Failure.INTERNAL))

    # -- requests from members -------------------------------------------------------------

    async def accept(self, job: Job) -> None:
        """Queue a job whose row (and quota reservation) admission has just written."""
        await self.queue.put(job.user_id, job.id)
        log.info("%s queued: user=%s images=%d", job.ctx, job.user_id, job.options.images)
        # Prompts are user content: only at DEBUG, and shortened.
        log.debug("%s prompt: %.120r", job.ctx, job.options.prompt)
        _count(job)
        self._announce_positions_soon()

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job and refund it; return None when it is too late to cancel."""
        cancellable = {JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING}
        cancelled = await self._finish(
            job_id, JobState.CANCELLED, expect=cancellable, fail_message="cancelled by requester"
        )
        if cancelled is None:
            return None
        self.queue.remove(job_id)
        await self.quota.refund(job_id)
        self._wake(job_id)
        log.info("%s cancelled by its requester", cancelled.ctx)
        if cancelled.task_id is not None:
            self._spawn(self._record_cost(cancelled), cancelled)
        with contextlib.suppress(Exception):
            await self.delivery.cancelled(cancelled)
        return cancelled

    def position(self, job_id: str) -> int | None:
        """Return a queued job's place in line."""
        return self.queue.position(job_id)

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
        """Send the job's createTask and go on from what came of it."""
        try:
            job, sent = await send_create_task(
                job,
                kie=self.kie,
                store=self.store,
                clock=self.clock,
                callback_url=self.callback_url(job),
                on_the_wire=self._sending,
            )
            if isinstance(sent, Created):
                # Still "sending" until the task id is written, or a shutdown could cut it.
                await self._adopt(job, sent.task_id)
            elif isinstance(sent, Unconfirmed):
                await self._reconcile_unknown(job)
            elif isinstance(sent, Failed):
                await self._fail(job.id, sent)
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
        log.info("%s: kie task %s created", job.ctx, task_id)
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
        await self._fail(job.id, Failed(Failure.UNKNOWN))

    # -- watching --------------------------------------------------------------------------

    async def _plan(self, job: Job) -> PollPlan:
        callbacks = self.config.callback_base_url is not None
        return await poll_plan(job, self.store, callbacks, self.config.default_expected)

    async def _watch(self, job: Job) -> None:
        """Follow the task (polls, or a callback's wake-up), then deliver or fail."""
        assert job.task_id is not None and job.submitted_at is not None
        plan = await self._plan(job)
        eta = job.submitted_at + (plan.window_start + plan.window_end) / 2
        await self._progress(job, Progress(eta=eta))

        async def show(changed: Job) -> None:
            _count(changed)
            await self._progress(changed, Progress(eta=eta))

        wake = self._wakes.setdefault(job.id, asyncio.Event())
        try:
            end = await watch_running(
                job,
                plan,
                kie=self.kie,
                store=self.store,
                clock=self.clock,
                give_up_after=self.config.give_up_after,
                wake=wake,
                on_change=show,
            )
        finally:
            self._wakes.pop(job.id, None)
        if isinstance(end, Failed):
            await self._fail(job.id, end)
        elif end is not None and end.state is TaskState.SUCCESS:
            await self._succeeded(job, end)
        elif end is not None:
            await self._task_failed(job, end)

    async def _record_cost(self, job: Job) -> None:
        await record_cost_after_cancel(
            job,
            await self._plan(job),
            kie=self.kie,
            store=self.store,
            clock=self.clock,
            give_up_after=self.config.give_up_after,
        )

    def _wake(self, job_id: str) -> None:
        event = self._wakes.get(job_id)
        if event is not None:
            event.set()

    async def on_callback(self, job: Job, record: TaskRecord) -> bool:
        """Act on kie's verified callback for `job`; return False if it names another task.

        The callback only wakes the job: recordInfo stays the source of truth, so a replayed
        body can at most cause one extra poll.
        """
        if job.state is JobState.SUBMITTING and job.task_id is None:
            await self._adopt_from_callback(job, record)
        elif job.task_id != record.task_id:
            return False
        self._wake(job.id)
        return True

    async def _adopt_from_callback(self, job: Job, record: TaskRecord) -> None:
        """Confirm with recordInfo that the callback's task is ours, then adopt it."""
        try:
            confirmed = await self.kie.get_task(record.task_id)
        except KieError as exc:
            log.warning("%s: could not confirm task %s: %s", job.ctx, record.task_id, exc)
            return
        if job.callback_token not in confirmed.param:
            log.warning("%s: task %s does not carry this job's token", job.ctx, record.task_id)
            return
        await self._adopt(job, confirmed.task_id)
        self._wake(job.id)

    # -- endings ---------------------------------------------------------------------------

    async def _task_failed(self, job: Job, record: TaskRecord) -> None:
        log.info("%s: kie task failed: code=%s", job.ctx, record.fail_code)
        metrics.CREDITS_CONSUMED.inc(record.credits_consumed)
        await self.store.update(job.id, credits_consumed=record.credits_consumed)
        await self._fail(job.id, failure_for_task(record))

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
        self._spawn_delivery(delivering)

    async def _deliver(self, job: Job) -> None:
        """Hand the result to the member, then settle the quota and finish the job."""
        outcome = await self.results.deliver(job)
        if isinstance(outcome, Failed):
            await self._fail(job.id, outcome)
            return
        await self._delivered(job, outcome)

    async def _delivered(self, job: Job, outcome: Delivered) -> None:
        await self.quota.settle(job.id, outcome.images)
        done = await self._finish(
            job.id,
            JobState.DELIVERED,
            expect={JobState.DELIVERING},
            images_delivered=outcome.images,
        )
        if done is not None:
            log.info(
                "%s delivered: %d image(s), %s credits",
                job.ctx,
                outcome.images,
                done.credits_consumed,
            )

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

    async def _fail(self, job_id: str, failed: Failed) -> None:
        """End a job as failed, refund its quota and tell the requester."""
        job = await self._finish(
            job_id,
            JobState.FAILED,
            expect=UNFINISHED,
            fail_code=failed.failure.value,
            fail_message=failed.text,
        )
        if job is None:
            return
        self.queue.remove(job_id)
        await self.quota.refund(job_id)
        log.info("%s failed (%s)", job.ctx, failed.failure.value)
        try:
            await self.delivery.failed(job, failed)
        except Exception:
            log.exception("%s: could not tell the requester it failed", job.ctx)

    # -- progress --------------------------------------------------------------------------

    async def _progress(self, job: Job, progress: Progress) -> None:
        try:
            await self.delivery.progress(job, progress)
        except Exception as exc:  # noqa: BLE001 - progress is cosmetic; never fail a job on it
            log.debug("%s: progress not shown: %r", job.ctx, exc)

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
