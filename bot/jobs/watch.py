"""Following a kie task to its end: poll recordInfo on the plan, or wake early on a callback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from bot import metrics
from bot.jobs.models import Job, JobState
from bot.jobs.outcomes import Failed, Failure, failure_for_error
from bot.jobs.polling import PollPlan
from bot.jobs.ports import KieTasks
from bot.jobs.store import JobStore
from bot.kie import KieError, KieTaskNotFound, KieUnauthorized, TaskRecord

__all__ = ["confirm_task", "poll_plan", "record_cost_after_cancel", "watch_running"]

# kie may not know a task for a few seconds after creating it: "no such task" that early is
# asked again, not taken as the task being lost.
NOT_FOUND_GRACE = 30.0

log = logging.getLogger(__name__)


async def poll_plan(
    job: Job, store: JobStore, callbacks: bool, default_expected: Mapping[str, float]
) -> PollPlan:
    """Return when to ask kie about this job, from how long recent jobs of its shape took."""
    durations = await store.recent_durations(
        size=job.options.size.value,
        resolution=job.options.resolution.value,
        images=job.options.images,
    )
    return PollPlan.from_history(
        durations,
        resolution=job.options.resolution.value,
        images=job.options.images,
        callbacks=callbacks,
        default_expected=default_expected,
    )


async def watch_running(
    job: Job,
    plan: PollPlan,
    *,
    kie: KieTasks,
    store: JobStore,
    clock: Callable[[], float],
    give_up_after: float,
    wake: asyncio.Event,
    on_change: Callable[[Job], Awaitable[None]],
) -> TaskRecord | Failed | None:
    """Poll a RUNNING job's task until it ends.

    Return kie's final record (success or failure), the failure that ended the wait, or None
    when the job stopped running meanwhile (cancelled). Each new kie state is written to the
    row and passed to `on_change`.
    """
    assert job.task_id is not None and job.submitted_at is not None
    submitted = job.submitted_at
    while True:
        elapsed = clock() - submitted
        if elapsed > give_up_after:
            return Failed(Failure.TIMEOUT, {"minutes": int(give_up_after // 60)})
        delay = min(plan.next_check(elapsed), give_up_after + 0.5) - elapsed
        if delay > 0 and not wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
        wake.clear()
        current = await store.get(job.id)
        if current is None or current.state is not JobState.RUNNING:
            return None
        job = current
        assert job.task_id is not None
        try:
            record = await kie.get_task(job.task_id)
        except KieTaskNotFound as exc:
            if clock() - submitted < NOT_FOUND_GRACE:
                log.info("%s: kie does not know the task yet; asking again", job.ctx)
                continue
            return failure_for_error(exc)
        except KieUnauthorized as exc:
            return failure_for_error(exc)
        except KieError as exc:
            log.warning("%s: recordInfo failed (%s); will retry", job.ctx, exc)
            continue
        if record.is_terminal:
            return record
        if record.state.value != job.kie_state:
            updated = await store.update(
                job.id, expect={JobState.RUNNING}, kie_state=record.state.value, updated_at=clock()
            )
            if updated is None:
                return None
            job = updated
            await on_change(job)


async def record_cost_after_cancel(
    job: Job,
    plan: PollPlan,
    *,
    kie: KieTasks,
    store: JobStore,
    clock: Callable[[], float],
    give_up_after: float,
) -> None:
    """Follow a cancelled job's task to its end, only to record what kie charged for it.

    kie has no cancel endpoint: the task runs on and is billed, and usage reports must
    show that money even though the member was refunded and sees nothing more.
    """
    assert job.task_id is not None
    started = job.submitted_at or job.created_at
    elapsed = clock() - started
    while elapsed <= give_up_after:
        await asyncio.sleep(max(plan.next_check(elapsed) - elapsed, 0.0))
        try:
            record = await kie.get_task(job.task_id)
        except (KieTaskNotFound, KieUnauthorized):
            return
        except KieError:
            record = None
        if record is not None and record.is_terminal:
            metrics.CREDITS_CONSUMED.inc(record.credits_consumed)
            await store.update(
                job.id, kie_state=record.state.value, credits_consumed=record.credits_consumed
            )
            log.info(
                "%s: cancelled task ended; kie charged %s credits", job.ctx, record.credits_consumed
            )
            return
        elapsed = clock() - started


async def confirm_task(
    job: Job, task_id: str, *, kie: KieTasks, attempts: int, backoff: float
) -> TaskRecord | None:
    """Read the task a callback names (retrying failed reads); None if it isn't this job's."""
    pause = backoff
    for attempt in range(1, attempts + 1):
        try:
            record = await kie.get_task(task_id)
        except KieTaskNotFound:
            log.warning("%s: kie has no task %s", job.ctx, task_id)
            return None
        except KieError as exc:
            log.warning("%s: confirming task %s failed (%d): %s", job.ctx, task_id, attempt, exc)
            await asyncio.sleep(pause)
            pause *= 2
            continue
        # kie echoes the request in `param`, callback URL included: it carries our token.
        if job.callback_token not in record.param:
            log.warning("%s: task %s does not carry this job's token", job.ctx, task_id)
            return None
        return record
    return None
