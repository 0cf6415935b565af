"""What the job engine needs from the chat side; the Discord implementation lives in bot/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.images import Attachment
from bot.jobs.models import Job

__all__ = ["Delivery", "Progress", "ResultPart"]


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


class Delivery(Protocol):
    """How jobs reach members. Every method must be safe to call again after a restart."""

    async def upload_limit(self, job: Job) -> int:
        """Return how many bytes one message of this job's result may carry."""

    async def progress(self, job: Job, progress: Progress) -> None:
        """Show the job's current state to its requester."""

    async def post_result(self, job: Job, part: ResultPart) -> str:
        """Post one part of the result; return how it went out ("interaction" or "channel")."""

    async def failed(self, job: Job, message: str) -> None:
        """Tell the requester the job failed and why."""

    async def cancelled(self, job: Job) -> None:
        """Tell the requester the job was cancelled."""
