"""The job engine: the lifecycle only. No discord import.

Every step is written to the database before it takes effect, so a crash at any point
leaves a row that says what to do next (see `resume`):

    QUEUED ──► SUBMITTING ──► RUNNING ──► DELIVERING ──► DELIVERED
       │            │            │             │
       └────────────┴────────────┴─────────────┴──► FAILED | CANCELLED

Jobs come in already admitted (row written, quota reserved: `bot/control/admission.py`),
and a job's end commits together with its quota's settle or refund, so no reservation
outlives its job. A createTask whose outcome is unknown (timeout, a 500, a crash while
SUBMITTING) is never sent again: with callbacks on, the job waits without holding a worker
for as long as kie could still finish it, and a callback carrying the job's token adopts
the task the moment it arrives; without callbacks nothing can reconcile it (kie has no list
endpoint), so the member is told at once and refunded. kie's "not now" (429, maintenance)
puts the job back at the front of its member's line and pauses submissions.

Several processes may share one PostgreSQL database: each drives only the jobs it holds a
lease on (bot/jobs/leases.py), takes back its own at start, renews them on a timer, and
now and then takes the jobs of a process that stopped renewing. A write refused because the
lease was lost (LeaseLost) stops that job here without another write or post. A kie callback
or a member's cancel may reach any process: the one that gets it writes what anybody may
write, then tells the owner on the Notifier's "jobs" channel (payload: the job id), and the
owner looks at the job again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cluster.notify import RESYNC, Notifier
from bot.jobs.config import EngineConfig
from bot.jobs.endings import Endings, count_transition
from bot.jobs.leases import LeaseLost, Leases
from bot.jobs.line import Line
from bot.jobs.models import Job, JobState
from bot.jobs.outcomes import Failed, Failure
from bot.jobs.places import Places
from bot.jobs.polling import PollPlan
from bot.jobs.ports import Delivery, Download, KieTasks, Progress, QuotaLedger, Unlimited
from bot.jobs.references import Peek, failure_for_task
from bot.jobs.results import Results
from bot.jobs.store import JobStore
from bot.jobs.submit import Created, KieBusy, NotNow, Unconfirmed, send_create_task
from bot.jobs.watch import confirm_task, poll_plan, record_cost_after_cancel, watch_running
from bot.kie import TaskRecord, TaskState

__all__ = ["JOBS_CHANNEL", "JobEngine"]

log = logging.getLogger(__name__)

# The Notifier channel on which a process tells a job's owner to look at the job again.
JOBS_CHANNEL = "jobs"


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
        peek: Peek | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        if store.leases is None:
            # The only process on its database: its leases are a formality, same code path.
            store.leases = Leases.single_process()
        self.leases: Leases = store.leases
        self.notifier = notifier or Notifier()
        self.store = store
        # Looks at an edit job's reference images when kie fails its task (references.py).
        self.peek = peek
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
        self.endings = Endings(store=store, quota=self.quota, delivery=delivery, clock=clock)
        # Waiting jobs in turns across members, and which of them to tell their new place.
        self.line = Line(max_at_kie=config.max_jobs_per_member)
        self.places = Places(self.line, expected=config.default_expected)
        self._wakes: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deliveries: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[None]] = []
        # Submissions under way (task → job id), and the jobs whose createTask is on the wire.
        self._submits: dict[asyncio.Future[None], str] = {}
        self._sending: set[str] = set()
        self._places_task: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        # Each held job's running steps, so that a job taken over stops here at once.
        self._steps: dict[str, set[asyncio.Future[Any]]] = {}
        # Jobs whose callback-named task is being confirmed, and whose cost is followed.
        self._adopting: set[str] = set()
        self._following: set[str] = set()
        self.busy = KieBusy(clock=clock, maintenance_give_up=config.maintenance_give_up)
        # False from the moment a shutdown begins: admission then refuses new requests.
        self.accepting = True

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Settle what a crash left reserved, resume our jobs, start the submit workers."""
        swept = await self.quota.sweep()
        if swept:
            log.warning("settled %d quota reservation(s) left behind by an ended job", swept)
        self.notifier.subscribe(JOBS_CHANNEL, self._told)
        await self.resume()
        self._places_task = asyncio.create_task(
            self.places.run(self._progress, clock=self.clock), name="places"
        )
        self._workers = [
            asyncio.create_task(self._submit_worker(), name=f"kie-submit-{i}")
            for i in range(self.config.submit_workers)
        ]
        self._keeper = asyncio.create_task(self._keep_leases(), name="job-leases")

    async def resume(self) -> None:
        """Take back this instance's jobs and every job nobody holds; go on where each stopped."""
        # All at once, as many as there are: a restart resumes its jobs as fast as ever.
        jobs = await self.store.take_leases(
            own=True, follow_since=self._follow_since(), limit=1_000_000
        )
        self._resume(jobs)
        if jobs:
            log.info("resumed %d job(s) (lease owner %s)", len(jobs), self.leases.owner)

    def _follow_since(self) -> float:
        return self.clock() - self.config.give_up_after

    def _resume(self, jobs: list[Job]) -> None:
        """Go on with jobs just taken, each where its row says it stopped."""
        for job in jobs:
            if job.state.finished:
                # kie bills a task that runs on after a cancel: keep following it.
                self._follow_cost(job)
                continue
            if job.state is JobState.QUEUED:
                self.line.put(job)
                self.places.unseen(job.id)  # its message shows an old place
                continue
            if job.state in (JobState.SUBMITTING, JobState.RUNNING):
                self.line.hold(job)  # at kie: counts against its member's limit
            if job.state is JobState.SUBMITTING:
                self._spawn(self._reconcile_unknown(job), job)
                if job.task_id is not None:  # a callback named it; confirm before adopting
                    self._adopt_named(job, job.task_id)
            elif job.state is JobState.RUNNING:
                self._spawn(self._watch(job), job)
            elif job.state is JobState.DELIVERING:
                self._spawn_delivery(job, resumed=True)

    # -- leases ----------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renew our leases; stop the jobs another process took; take those nobody holds."""
        renewed = time.monotonic()
        lapsed = False
        while True:
            await asyncio.sleep(self.leases.renew_every)
            try:
                for job_id in await self.store.renew_leases():
                    log.warning("job=%s: taken over by another process; stopped here", job_id)
                    self._lost(job_id)
                renewed = time.monotonic()
                # After a lapse, our own rows too (nobody else may have wanted them).
                taken = await self.store.take_leases(follow_since=self._follow_since(), own=lapsed)
                lapsed = False
            except Exception as exc:  # noqa: BLE001 - the database may be back next time
                log.warning("leases not renewed: %r", exc)
                taken = []
            if time.monotonic() - renewed > self.leases.seconds and len(self.leases):
                # Unrenewed this long, every lease may be another process's now.
                log.warning("leases unrenewed for %.0f s: dropping every job", self.leases.seconds)
                for job_id in self.leases.held():
                    self.leases.drop(job_id)
                    self._lost(job_id)
                lapsed = True
            for job in taken:
                self._lost(job.id)  # ours before? (leases lapsed) drop what ran, start afresh
            if taken:
                log.info("took %d job(s) whose owner stopped renewing", len(taken))
                self._resume(taken)

    def _lost(self, job_id: str) -> None:
        """Stop everything this process does for a job it no longer holds."""
        self._left_line(job_id)
        self.busy.over(job_id)
        self._adopting.discard(job_id)
        self._following.discard(job_id)
        wake = self._wakes.pop(job_id, None)
        if wake is not None:
            wake.set()
        current = asyncio.current_task()
        for step in self._steps.pop(job_id, set()):
            if step is not current:
                step.cancel()

    def _told(self, payload: str) -> None:
        """Another process (or this one) says a job changed: look at it again."""
        if payload == RESYNC:
            # Messages may have been missed: look again at every job we hold that waits.
            for job_id in list(self._wakes):
                self._wake(job_id)
            for job_id in self.leases.held():
                if job_id not in self._wakes:
                    self._spawn_look(job_id)
            return
        if payload in self.leases:
            self._spawn_look(payload)

    def _spawn_look(self, job_id: str) -> None:
        task = asyncio.ensure_future(self._look_again(job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look_again(self, job_id: str) -> None:
        """Act on what another process wrote to a job we hold (a cancel, a callback's task)."""
        try:
            job = await self.store.get(job_id)
        except Exception as exc:  # noqa: BLE001 - the lease keeper's renewal looks again
            log.warning("job=%s: could not read it after a notice: %r", job_id, exc)
            return
        if job is None or job_id not in self.leases:
            return
        if job.state.finished:
            self._left_line(job_id)
            self._follow_cost(job)
        elif job.state is JobState.SUBMITTING and job.task_id is not None:
            self._adopt_named(job, job.task_id)
        self._wake(job_id)

    async def _tell_owner(self, job_id: str) -> None:
        try:
            await self.notifier.publish(JOBS_CHANNEL, job_id)
        except Exception as exc:  # noqa: BLE001 - the owner's poll or renewal finds it later
            log.warning("job=%s: could not notify its owner: %r", job_id, exc)

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
        if self._keeper:
            self._keeper.cancel()
        for worker in self._workers:
            worker.cancel()
        if self._places_task:
            self._places_task.cancel()
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
        if self._keeper:
            everything.append(self._keeper)
        for task in everything:
            task.cancel()
        await asyncio.gather(*everything, return_exceptions=True)
        try:
            # Nothing runs here any more: another process may take the jobs at once.
            await self.store.release_leases()
        except Exception as exc:  # noqa: BLE001 - they then expire after JOB_LEASE_SECONDS
            log.warning("leases not released: %r", exc)

    def _spawn(self, coro: Awaitable[None], job: Job) -> None:
        task = asyncio.ensure_future(self._guard(coro, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._step(job.id, task)

    def _spawn_delivery(self, job: Job, *, resumed: bool = False) -> None:
        # Deliveries are tracked apart so a shutdown can let them finish.
        task = asyncio.ensure_future(self._guard(self._deliver(job, resumed=resumed), job))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        self._step(job.id, task)

    def _step(self, job_id: str, task: asyncio.Future[Any]) -> None:
        steps = self._steps.setdefault(job_id, set())
        steps.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            steps.discard(t)
            if not steps and self._steps.get(job_id) is steps:
                del self._steps[job_id]

        task.add_done_callback(done)

    async def _guard(self, coro: Awaitable[None], job: Job) -> None:
        """Run a job step; an unexpected error fails the job instead of vanishing."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.warning("%s: another process holds it now; stopped here", job.ctx)
            self._lost(job.id)
        except Exception:
            log.exception("%s: unexpected error", job.ctx)
            try:
                await self._fail(job.id, Failed(Failure.INTERNAL))
            except LeaseLost:
                self._lost(job.id)

    # -- requests from members -------------------------------------------------------------

    async def accept(self, job: Job) -> None:
        """Queue a job whose row (and quota reservation) admission has just written."""
        if job.id not in self.leases and await self.store.claim(job.id) is None:
            return  # written by a store without our lease, and another process took it
        place = self.line.put(job)
        if place is not None:
            # The cog shows this place with the first real message.
            self.places.shown(job.id, place, self.clock())
        log.info("%s queued: user=%s images=%d", job.ctx, job.user_id, job.options.images)
        # Prompts are user content: only at DEBUG, and shortened. (Checked first: job.ctx
        # would otherwise be built for every job at INFO too.)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s prompt: %.120r", job.ctx, job.options.prompt)
        count_transition(job)

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job and refund it; return None when it is too late to cancel."""
        cancellable = {JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING}
        # Any process may cancel (the member clicked on whichever one got the click): the
        # end is conditional on the job's state, so it races the owner's steps cleanly.
        mine = job_id in self.leases
        cancelled = await self.endings.end(
            job_id,
            JobState.CANCELLED,
            expect=cancellable,
            fence=False,
            fail_message="cancelled by requester",
        )
        if cancelled is None:
            return None
        log.info("%s cancelled by its requester", cancelled.ctx)
        if mine:
            self._left_line(job_id)
            self._wake(job_id)
            self._follow_cost(cancelled)
        else:
            await self._tell_owner(job_id)
        # Told apart, so the member's click is answered as soon as the cancel is written.
        self._spawn(self._tell_cancelled(cancelled), cancelled)
        return cancelled

    async def _tell_cancelled(self, job: Job) -> None:
        try:
            await self.delivery.cancelled(job)
        except Exception as exc:  # noqa: BLE001 - the job is cancelled either way
            log.warning("%s: could not show the cancellation: %r", job.ctx, exc)

    def position(self, job_id: str) -> int | None:
        """Return a waiting job's place in line."""
        return self.line.place(job_id)

    def waiting(self, job_id: str) -> Progress | None:
        """Return what a waiting job's member should see now: place and expected start."""
        return self.places.progress(job_id, self.clock())

    def _left_line(self, job_id: str) -> None:
        """The job no longer waits nor counts at kie: its member's next job may go."""
        self.line.remove(job_id)
        self.places.forget(job_id)

    # -- submission ------------------------------------------------------------------------

    async def _submit_worker(self) -> None:
        while True:
            taken = await self.line.take()
            # After kie's "not now", nobody submits until the pause is over; the job keeps
            # its place meanwhile.
            if (pause := self.busy.pause_left()) > 0:
                self.line.put_back(taken.id)
                await asyncio.sleep(pause)
                continue
            self.places.forget(taken.id)
            job = await self.store.get(taken.id)
            if job is None or job.state is not JobState.QUEUED:
                self.line.remove(taken.id)
                continue  # cancelled while waiting
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
                self.busy.over(job.id)
                await self._adopt(job, sent.task_id)
            elif isinstance(sent, Unconfirmed):
                # Reconciled apart, so this worker goes on with the line meanwhile.
                self._spawn(self._reconcile_unknown(job), job)
            elif isinstance(sent, NotNow):
                await self._not_now(job, sent)
            elif isinstance(sent, Failed):
                await self._fail(job.id, sent)
        finally:
            self._sending.discard(job.id)

    async def _not_now(self, job: Job, sent: NotNow) -> None:
        """kie made no task and asked us to wait: back to the front of the line, pause."""
        back = await self.store.update(
            job.id, expect={JobState.SUBMITTING}, state=JobState.QUEUED, updated_at=self.clock()
        )
        if back is None:
            return  # cancelled meanwhile
        pause = self.busy.said_not_now(job.id, sent.error)
        if pause is None:
            await self._fail(job.id, Failed(Failure.MAINTENANCE))
            return
        log.info("%s: kie said not now (%s); waiting %.0f s", job.ctx, sent.error, pause)
        self.line.put_back(back.id)
        await self._progress(back, Progress(kie_busy=True))

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
            current = await self.store.get(job.id)
            if current is not None and current.state.finished and current.task_id is None:
                # Ended meanwhile (cancelled): keep the task id so the money trail is complete.
                ended = await self._keep_task_id(job.id, task_id)
                if ended is not None:
                    self._follow_cost(ended)
            return  # or a callback adopted it first
        log.info("%s: kie task %s created", job.ctx, task_id)
        count_transition(running)
        # A fresh wake-up for the watch, made before it starts so a callback arriving now is
        # not missed; the old one tells a reconciliation waiting on it that the job moved on.
        waiting = self._wakes.pop(job.id, None)
        if waiting is not None:
            waiting.set()
        self._wakes[job.id] = asyncio.Event()
        self._spawn(self._watch(running), running)

    async def _reconcile_unknown(self, job: Job) -> None:
        """Wait (visibly) for a callback to name the task, as long as kie could finish it."""
        if not self.config.callback_base_url:
            # kie has no list endpoint: without callbacks nothing could ever find the task.
            await self._fail(job.id, Failed(Failure.UNKNOWN))
            return
        await self._progress(job, Progress(unconfirmed=True))
        deadline = (job.submitted_at or job.created_at) + self.config.give_up_after
        wake = self._wakes.setdefault(job.id, asyncio.Event())
        while (remaining := deadline - self.clock()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), remaining)
            wake.clear()
            current = await self.store.get(job.id)
            if current is None or current.state is not JobState.SUBMITTING:
                return  # a callback adopted it, or it was cancelled
            if current.task_id is not None:
                # A callback that reached another process named the task (bot/web.py).
                self._adopt_named(current, current.task_id)
        if self._wakes.get(job.id) is wake:
            del self._wakes[job.id]
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
            count_transition(changed)
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

    def _follow_cost(self, job: Job) -> None:
        """Follow an ended job's task to record what kie bills for it (once per process)."""
        if job.task_id is None or job.id in self._following:
            return
        if job.kie_state in ("success", "fail"):
            return
        self._following.add(job.id)
        self._spawn(self._record_cost(job), job)

    async def _record_cost(self, job: Job) -> None:
        try:
            await record_cost_after_cancel(
                job,
                await self._plan(job),
                kie=self.kie,
                store=self.store,
                clock=self.clock,
                give_up_after=self.config.give_up_after,
            )
        finally:
            self._following.discard(job.id)

    def _wake(self, job_id: str) -> None:
        event = self._wakes.get(job_id)
        if event is not None:
            event.set()

    async def on_callback(self, job: Job, record: TaskRecord) -> bool:
        """Act at once on kie's verified callback for `job`; False if it names another task.

        recordInfo stays the source of truth: a callback wakes the job's watch, or, for a job
        whose createTask answer never came, names the task that a recordInfo read confirms.
        """
        if job.task_id is not None and job.task_id != record.task_id:
            return False
        if job.task_id is None and job.state is JobState.QUEUED:
            return False  # no createTask left for this job: nothing kie could name
        mine = job.id in self.leases
        if job.task_id is None:
            # Written before answering, so a crash right after still knows the task; by
            # whichever process got the callback (only while no task id is known).
            claimed = await self._keep_task_id(job.id, record.task_id, expect={JobState.SUBMITTING})
            if mine:
                self._adopt_named(claimed or job, record.task_id)
        if mine:
            self._wake(job.id)
        else:
            # The owner acts at once (its watch polls now, or it confirms the named task).
            await self._tell_owner(job.id)
        return True

    async def _keep_task_id(
        self, job_id: str, task_id: str, *, expect: set[JobState] | None = None
    ) -> Job | None:
        """Record the task kie made for a job that has none yet: anybody may (the money trail)."""
        return await self.store.update(
            job_id, expect=expect, fence=False, task_id=task_id, only_if_no_task=True
        )

    def _adopt_named(self, job: Job, task_id: str) -> None:
        """Confirm (once at a time) the task a callback named for a SUBMITTING job, and adopt it."""
        if job.id in self._adopting:
            return
        self._adopting.add(job.id)
        self._spawn(self._adopt_from_callback(job, task_id), job)

    async def _adopt_from_callback(self, job: Job, task_id: str) -> None:
        """Confirm with recordInfo that the task is this job's, then adopt or record it."""
        try:
            await self._confirm_and_adopt(job, task_id)
        finally:
            self._adopting.discard(job.id)

    async def _confirm_and_adopt(self, job: Job, task_id: str) -> None:
        confirmed = await confirm_task(
            job,
            task_id,
            kie=self.kie,
            attempts=self.config.confirm_attempts,
            backoff=self.config.confirm_backoff,
        )
        if confirmed is None:
            await self.store.update(job.id, expect={JobState.SUBMITTING}, task_id=None)
            return
        current = await self.store.get(job.id)
        if current is None:
            return
        if current.state is JobState.SUBMITTING:
            await self._adopt(current, task_id)
            self._wake(job.id)
        elif current.state.finished and current.state is not JobState.DELIVERED:
            # Failed or cancelled before kie's answer came: record what kie bills for it.
            ended = current if current.task_id == task_id else None
            ended = ended or await self._keep_task_id(job.id, task_id)
            if ended is not None:
                self._follow_cost(ended)

    # -- endings ---------------------------------------------------------------------------

    async def _task_failed(self, job: Job, record: TaskRecord) -> None:
        log.info("%s: kie task failed: code=%s", job.ctx, record.fail_code)
        await self.endings.record_credits(job, record)
        references = job.options.references
        await self._fail(job.id, await failure_for_task(references, record, peek=self.peek))

    async def _succeeded(self, job: Job, record: TaskRecord) -> None:
        delivering = await self.endings.kie_finished(job, record)
        self.line.remove(job.id)  # no longer at kie: the member's next job may go
        if delivering is not None:
            self._spawn_delivery(delivering)

    async def _deliver(self, job: Job, *, resumed: bool = False) -> None:
        """Hand the result to the member, then settle the quota and finish the job."""
        outcome = await self.results.deliver(job, resumed=resumed)
        if isinstance(outcome, Failed):
            await self._fail(job.id, outcome)
        else:
            await self.endings.delivered(job, outcome)

    async def _fail(self, job_id: str, failed: Failed) -> None:
        """End a job as failed, refund its quota and tell the requester."""
        if await self.endings.failed(job_id, failed):
            self._left_line(job_id)
            self.busy.over(job_id)

    # -- progress --------------------------------------------------------------------------

    async def _progress(self, job: Job, progress: Progress) -> None:
        try:
            await self.delivery.progress(job, progress)
        except Exception as exc:  # noqa: BLE001 - progress is cosmetic; never fail a job on it
            log.debug("%s: progress not shown: %r", job.ctx, exc)
