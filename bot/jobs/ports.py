"""What the engine needs from outside, as protocols: kie, the chat side, images and quota.

The engine imports none of their implementations; the composition root (`bot/imagine_bot.py`)
plugs in kie's client, the Discord delivery, the image downloader and the quota ledger, and
tests plug in fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.images import Attachment, DownloadedImage
from bot.jobs.models import Job
from bot.jobs.outcomes import Failed, Failure
from bot.kie import CreateTaskRequest, TaskRecord
from bot.store.database import Connection

__all__ = [
    "Delivery",
    "Download",
    "KieTasks",
    "PostRefused",
    "Progress",
    "QuotaLedger",
    "ResultPart",
    "Unlimited",
]


@dataclass(frozen=True, slots=True)
class Progress:
    """What the member sees while waiting."""

    queue_position: int | None = None
    eta: float | None = None  # Unix time kie will likely finish
    # Waiting in line: Unix time the job will likely be sent to kie (bot/jobs/places.py).
    starts_at: float | None = None
    # Waiting in line behind the member's own jobs at kie (MAX_JOBS_PER_MEMBER at once).
    behind_own: bool = False
    # Delivering: "downloading" or "posting" (None when not told which).
    stage: str | None = None
    # createTask went out but kie's answer was lost: delivered if kie made the task.
    unconfirmed: bool = False
    # kie said "not now" (429, maintenance): the job waits and keeps its place.
    kie_busy: bool = False


@dataclass(frozen=True, slots=True)
class ResultPart:
    """One message of a result: some of the images, and where they sit in the whole."""

    index: int  # 0-based
    count: int
    attachments: tuple[Attachment, ...]
    # Full-resolution originals for images that had to be shrunk to fit (1-based number → URL).
    originals: dict[int, str]


class PostRefused(Exception):
    """The chat side refused a result for good (no retry helps); `failure` says why."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.value)
        self.failure = failure


class Delivery(Protocol):
    """How jobs reach members. Every method must be safe to call again after a restart."""

    async def upload_limit(self, job: Job) -> int:
        """Return how many bytes one message of this job's result may carry."""

    async def progress(self, job: Job, progress: Progress) -> None:
        """Show the job's current state to its requester."""

    async def post_result(self, job: Job, part: ResultPart) -> str:
        """Post one part; return how it went out ("interaction" or "channel").

        Raise PostRefused when the chat side will never take it.
        """

    async def posted_parts(self, job: Job) -> int | None:
        """Return how many of the job's result messages the chat shows (None: can't tell).

        Asked only when a delivery resumes, to find a message that landed just before a crash.
        """

    async def failed(self, job: Job, failed: Failed) -> None:
        """Tell the requester the job failed (or was delivered only in part) and why."""

    async def cancelled(self, job: Job) -> None:
        """Tell the requester the job was cancelled."""

    async def close(self) -> None:
        """Drop what is still waiting to be shown (the process is stopping)."""


class KieTasks(Protocol):
    """The two kie calls the engine makes (bot.kie.KieClient implements them)."""

    async def create_task(
        self,
        request: CreateTaskRequest,
        /,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Create a task and return its id; raise a KieError (KieOutcomeUnknown if unsure)."""

    async def get_task(self, task_id: str, /) -> TaskRecord:
        """Return the task's current record."""


# Fetch result images: each URL's image or its error, in order.
Download = Callable[[Sequence[str]], Awaitable[Sequence[DownloadedImage | Exception]]]


class QuotaLedger(Protocol):
    """Settle or refund a job's reservation when it ends (reserved when it was admitted).

    Both are idempotent and accept the caller's transaction, so a job's end and its quota
    commit together.
    """

    async def settle(self, job_id: str, delivered: int, *, conn: Connection | None = None) -> None:
        """Reduce the job's reservation to the images actually delivered."""

    async def refund(self, job_id: str, *, conn: Connection | None = None) -> None:
        """Release the job's whole reservation."""

    async def sweep(self) -> int:
        """Settle or refund every reservation whose job has ended or is gone; return how many."""


class Unlimited:
    """A ledger that holds nothing (tests of the engine alone)."""

    async def settle(self, job_id: str, delivered: int, *, conn: Connection | None = None) -> None:
        """Do nothing."""

    async def refund(self, job_id: str, *, conn: Connection | None = None) -> None:
        """Do nothing."""

    async def sweep(self) -> int:
        """Do nothing."""
        return 0
