"""What the engine needs from outside, as protocols: kie, the chat side, images and quota.

The engine imports none of their implementations; the composition root (`bot/imagine_bot.py`)
plugs in kie's client, the Discord delivery, the image downloader and the quota ledger, and
tests plug in fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.images import Attachment, DownloadedImage
from bot.jobs.models import Job
from bot.jobs.outcomes import Failed, Failure
from bot.kie import CreateTaskRequest, TaskRecord

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

    async def failed(self, job: Job, failed: Failed) -> None:
        """Tell the requester the job failed and why."""

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
    """Settle or refund a job's reservation when it ends (reserved when it was admitted)."""

    async def settle(self, job_id: str, delivered: int) -> None:
        """Reduce the job's reservation to the images actually delivered."""

    async def refund(self, job_id: str) -> None:
        """Release the job's whole reservation."""


class Unlimited:
    """A ledger that holds nothing (tests of the engine alone)."""

    async def settle(self, job_id: str, delivered: int) -> None:
        """Do nothing."""

    async def refund(self, job_id: str) -> None:
        """Do nothing."""

    async def reserve(self, **_: Any) -> None:
        """Do nothing."""
