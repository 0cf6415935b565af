"""Handing a finished task's images to the member: download → plan → post each part.

Parts already posted (the row's `parts_delivered`) are skipped, so a resumed delivery goes
on where it stopped. The engine settles the quota and finishes the job from what this
returns: the number of images delivered, or the failure case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot import metrics
from bot.images import CannotFit, DownloadedImage, plan_messages
from bot.jobs.models import Job
from bot.jobs.outcomes import Failed, Failure
from bot.jobs.ports import Delivery, Download, PostRefused, ResultPart
from bot.jobs.store import JobStore

__all__ = ["Delivered", "Results"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivered:
    """Every part of the result is posted."""

    images: int


class Results:
    """Delivers results through the Delivery port, recording each posted part."""

    def __init__(
        self,
        *,
        store: JobStore,
        delivery: Delivery,
        download: Download,
        clock: Callable[[], float],
        attempts: int = 3,
    ) -> None:
        self.store = store
        self.delivery = delivery
        self.download = download
        self.clock = clock
        self.attempts = attempts

    async def deliver(self, job: Job) -> Delivered | Failed:
        """Download the results, fit them to Discord's limit, and post what is not yet posted."""
        if not job.result_urls:
            return Failed(Failure.NO_IMAGES)
        fetched = await self.download(list(job.result_urls))
        images: list[DownloadedImage] = []
        originals: dict[int, str] = {}
        for url, result in zip(job.result_urls, fetched, strict=True):
            if isinstance(result, Exception):
                log.warning("%s: image %d not downloaded: %s", job.ctx, len(images) + 1, result)
                continue
            images.append(result)
            originals[len(images)] = url
        if not images:
            return Failed(Failure.DOWNLOAD)
        limit = await self.delivery.upload_limit(job)
        try:
            plan = await plan_messages(
                images, limit_bytes=limit, spoiler=job.spoiler, stem=f"imagine_{job.id[:8]}"
            )
        except CannotFit:
            return Failed(Failure.TOO_LARGE)
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
            via = await self._post(job, part)
            if isinstance(via, Failed):
                return via
            metrics.DELIVERY_BYTES.inc(sum(a.size for a in attachments))
            updated = await self.store.update(
                job.id, parts_delivered=index + 1, delivered_via=via, updated_at=self.clock()
            )
            job = updated or job
        return Delivered(images=len(images))

    async def _post(self, job: Job, part: ResultPart) -> str | Failed:
        """Post one part, retrying transient failures."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await self.delivery.post_result(job, part)
            except PostRefused as exc:
                return Failed(exc.failure)
            except Exception as exc:  # noqa: BLE001 - any transport error gets the same retry
                log.warning(
                    "%s: posting part %d failed (attempt %d): %r",
                    job.ctx,
                    part.index + 1,
                    attempt,
                    exc,
                )
                await asyncio.sleep(min(2.0**attempt, 10.0))
        return Failed(Failure.NOT_POSTED)
