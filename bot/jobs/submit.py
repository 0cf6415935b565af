"""Sending one job's createTask, so that a crash or shutdown can never send it twice.

The row says SUBMITTING only once the request is about to leave (after the rate-limit
slot is held), and from then on the job id sits in `on_the_wire` until its task id is
written: a shutdown lets such a submission finish instead of cutting it. An edit job goes to
kie's edit model with its stored reference images, unless a link has died meanwhile (a long
wait in line, a restart): then nothing is sent and the member is told which picture to give
again (bot/jobs/references.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.jobs.models import Job, JobState
from bot.jobs.outcomes import Failed, failure_for_error
from bot.jobs.ports import KieTasks
from bot.jobs.prompt import prompt_for_kie
from bot.jobs.references import expired, expired_failure
from bot.jobs.store import JobStore
from bot.kie import CreateTaskRequest, KieError, KieOutcomeUnknown
from bot.kie.errors import KieMaintenance, KieNotNow

__all__ = ["Created", "KieBusy", "NotNow", "Unconfirmed", "send_create_task"]

log = logging.getLogger(__name__)


class _JobGone(Exception):
    """The job left the queue (cancelled) before its createTask was sent."""


@dataclass(frozen=True, slots=True)
class Created:
    """kie made the task."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """The request may have reached kie, but no answer says so: never resend it."""


@dataclass(frozen=True, slots=True)
class NotNow:
    """kie made no task and asked to wait (429 rate limit, 455 maintenance)."""

    error: KieNotNow


async def send_create_task(
    job: Job,
    *,
    kie: KieTasks,
    store: JobStore,
    clock: Callable[[], float],
    callback_url: str | None,
    on_the_wire: set[str],
) -> tuple[Job, Created | Unconfirmed | NotNow | Failed | None]:
    """Send a QUEUED job's createTask; return the job as last written and what came of it.

    None means the job was cancelled while it waited for a createTask slot.
    """
    references = job.options.references
    if (dead := expired(references, clock())) is not None:
        log.info("%s: reference %s expired before createTask; not sent", job.ctx, dead.option)
        return job, expired_failure(dead)
    image_urls = tuple(r.url for r in references)
    request = CreateTaskRequest(
        prompt=prompt_for_kie(job.options.prompt, job.options.images),
        image_size=job.options.size,
        image_resolution=job.options.resolution,
        max_images=job.options.images,
        seed=job.options.seed,
        nsfw_checker=job.options.safety,
        callback_url=callback_url,
        model=CreateTaskRequest.model_for(image_urls),
        image_urls=image_urls,
    )

    async def mark_sending() -> None:
        nonlocal job
        # From here on the submission must not be cut by a shutdown: mark it first.
        on_the_wire.add(job.id)
        now = clock()
        updated = await store.update(
            job.id,
            expect={JobState.QUEUED},
            state=JobState.SUBMITTING,
            submitted_at=now,
            updated_at=now,
        )
        if updated is None:
            raise _JobGone
        job = updated

    try:
        task_id = await kie.create_task(request, before_send=mark_sending)
    except _JobGone:
        return job, None
    except KieNotNow as exc:
        return job, NotNow(exc)
    except KieOutcomeUnknown:
        log.warning("%s: createTask outcome unknown; reconciling, not resending", job.ctx)
        return job, Unconfirmed()
    except KieError as exc:
        log.info("%s: createTask refused: %s", job.ctx, exc)
        return job, failure_for_error(exc)
    return job, Created(task_id)


class KieBusy:
    """kie's "not now" for the whole process: how long submissions pause, and when to give up.

    A 429 or 455 is about the account, not the job, so every submit worker pauses: for kie's
    Retry-After, else 2 s doubling to a minute while kie keeps saying it. A 429 never ends a
    job; maintenance ends one only after `maintenance_give_up` seconds of it.
    """

    def __init__(self, *, clock: Callable[[], float], maintenance_give_up: float) -> None:
        self.clock = clock
        self.maintenance_give_up = maintenance_give_up
        self._until = 0.0  # monotonic
        self._streak = 0
        self._maintenance_since: dict[str, float] = {}

    def pause_left(self) -> float:
        """Return the seconds submissions must still wait."""
        return self._until - time.monotonic()

    def said_not_now(self, job_id: str, error: KieNotNow) -> float | None:
        """Record kie's answer for a job; return the pause, or None to give the job up."""
        if isinstance(error, KieMaintenance):
            since = self._maintenance_since.setdefault(job_id, self.clock())
            if self.clock() - since > self.maintenance_give_up:
                return None
        self._streak += 1
        pause = error.retry_after or min(60.0, 2.0 * 2 ** min(self._streak - 1, 5))
        self._until = max(self._until, time.monotonic() + pause)
        return pause

    def over(self, job_id: str) -> None:
        """Forget the job's waiting: kie took it (the pauses start small again) or it ended."""
        self._streak = 0
        self._maintenance_since.pop(job_id, None)
