"""How jobs end: each final state commits with its quota's settle or refund, then the member
is told. Nothing here decides *when* a job ends; the engine does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot import metrics
from bot.jobs.models import UNFINISHED, Job, JobState
from bot.jobs.outcomes import Failed
from bot.jobs.ports import Delivery, QuotaLedger
from bot.jobs.results import Delivered
from bot.jobs.store import JobStore
from bot.kie import TaskRecord

__all__ = ["Endings", "count_transition"]

log = logging.getLogger(__name__)


def count_transition(job: Job) -> None:
    """Count the state the job just entered (metrics)."""
    metrics.JOB_TRANSITIONS.labels(state=job.state.value).inc()


class Endings:
    """Writes the last steps of a job: kie's result, delivery, failure, cancel."""

    def __init__(
        self,
        *,
        store: JobStore,
        quota: QuotaLedger,
        delivery: Delivery,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.quota = quota
        self.delivery = delivery
        self.clock = clock

    async def record_credits(self, job: Job, record: TaskRecord) -> None:
        """Keep what kie charged for the job's task (it charges failed tasks too)."""
        metrics.CREDITS_CONSUMED.inc(record.credits_consumed)
        await self.store.update(job.id, credits_consumed=record.credits_consumed)

    async def kie_finished(self, job: Job, record: TaskRecord) -> Job | None:
        """Write kie's successful result; return the job, now DELIVERING (None if it moved on)."""
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
        if delivering is not None:
            metrics.CREDITS_CONSUMED.inc(record.credits_consumed)
            count_transition(delivering)
        return delivering

    async def end(
        self,
        job_id: str,
        state: JobState,
        *,
        expect: set[JobState] | frozenset[JobState],
        fence: bool = True,
        **fields: Any,
    ) -> Job | None:
        """Give the job its final state and settle (delivered) or refund its quota, at once.

        Fenced unless `fence` is False (a member's cancel, which any process may write).
        """
        now = self.clock()
        async with self.store.db.transaction() as tx:
            job = await self.store.update(
                job_id,
                expect=expect,
                conn=tx,
                fence=fence,
                state=state,
                finished_at=now,
                updated_at=now,
                **fields,
            )
            if job is None:
                return None
            if state is JobState.DELIVERED:
                await self.quota.settle(job_id, job.images_delivered or 0, conn=tx)
            else:
                await self.quota.refund(job_id, conn=tx)
        count_transition(job)
        return job

    async def delivered(self, job: Job, outcome: Delivered) -> None:
        """Finish a delivered job (charged for what was posted) and say what was not."""
        failed = outcome.failed
        done = await self.end(
            job.id,
            JobState.DELIVERED,
            expect={JobState.DELIVERING},
            images_delivered=outcome.images,
            fail_code=failed.failure.value if failed else None,
            fail_message=failed.text if failed else None,
        )
        if done is None:
            return
        log.info(
            "%s delivered: images=%d credits=%s", job.ctx, outcome.images, done.credits_consumed
        )
        if failed is not None:
            await self.tell(done, failed)

    async def failed(self, job_id: str, failed: Failed) -> bool:
        """End a job as failed, refunded, and tell the requester; False if it had ended."""
        job = await self.end(
            job_id,
            JobState.FAILED,
            expect=UNFINISHED,
            fail_code=failed.failure.value,
            fail_message=failed.text,
        )
        if job is None:
            return False
        log.info("%s failed (%s)", job.ctx, failed.failure.value)
        await self.tell(job, failed)
        return True

    async def tell(self, job: Job, failed: Failed) -> None:
        """Tell the requester why the job (or part of it) failed; never raise."""
        try:
            await self.delivery.failed(job, failed)
        except Exception:
            log.exception("%s: could not tell the requester it failed", job.ctx)
