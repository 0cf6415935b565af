"""Handing a finished task's images to the member: download → plan (stored once) → post.

Which images go in which message is decided once, when the delivery starts, and stored
with the job (`delivery_plan`); each posted message moves `parts_delivered` on. A delivery
resumed after a crash therefore re-creates exactly the same messages, skips the ones posted,
asks the chat side whether the one in flight at the crash landed, and downloads nothing
when every part is already out. The engine settles the quota from what this returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot import metrics
from bot.images import (
    CannotFit,
    DeliverySlots,
    DownloadedImage,
    ImageSlot,
    Part,
    build_part,
    plan_messages,
)
from bot.jobs.models import Job, JobState
from bot.jobs.outcomes import Failed, Failure, partial
from bot.jobs.ports import Delivery, Download, PostRefused, Progress, ResultPart
from bot.jobs.store import JobStore

__all__ = ["Delivered", "Results"]

log = logging.getLogger(__name__)

Plan = tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class Delivered:
    """How many images reached the member; `failed` says why the rest did not, if any."""

    images: int
    failed: Failed | None = None


class Results:
    """Delivers results through the Delivery port, recording the plan and each posted part."""

    def __init__(
        self,
        *,
        store: JobStore,
        delivery: Delivery,
        download: Download,
        clock: Callable[[], float],
        slots: DeliverySlots | None = None,
        attempts: int = 3,
    ) -> None:
        self.store = store
        # One per process: bounds the deliveries (and image bytes) in progress at once.
        self.slots = slots or DeliverySlots()
        self.delivery = delivery
        self.download = download
        self.clock = clock
        self.attempts = attempts

    async def deliver(self, job: Job, *, resumed: bool = False) -> Delivered | Failed:
        """Post what is not yet posted; `resumed` when an earlier process may have been posting."""
        if not job.result_urls:
            return Failed(Failure.NO_IMAGES)
        plan = job.delivery_plan
        if plan is not None and job.parts_delivered >= len(plan):
            return Delivered(images=_count(plan))  # all out before a crash: nothing to fetch
        # Held across downloads too, so a delivery waiting for its turn holds no image bytes.
        async with self.slots:
            await self._show(job, "downloading")
            return await self._deliver(job, plan, resumed=resumed)

    async def _show(self, job: Job, stage: str) -> None:
        try:
            await self.delivery.progress(job, Progress(stage=stage))
        except Exception as exc:  # noqa: BLE001 - progress is cosmetic; never fail a job on it
            log.debug("%s: progress not shown: %r", job.ctx, exc)

    async def _deliver(self, job: Job, plan: Plan | None, *, resumed: bool) -> Delivered | Failed:
        wanted = set(
            range(len(job.result_urls)) if plan is None else _indexes(plan[job.parts_delivered :])
        )
        images = await self._fetch(job, wanted)
        built: dict[int, Part] = {}
        if plan is None:
            if not any(isinstance(i, DownloadedImage) for i in images):
                return Failed(Failure.DOWNLOAD)
            try:
                parts = await plan_messages(images, **await self._shape(job))
            except CannotFit:
                return Failed(Failure.TOO_LARGE)
            plan = tuple(p.indexes for p in parts)
            built = dict(enumerate(parts))
            stored = await self.store.update(
                job.id, expect={JobState.DELIVERING}, delivery_plan=plan, updated_at=self.clock()
            )
            if stored is None:
                return Delivered(images=0)  # the job ended meanwhile (cancelled, say)
            job = stored
        elif resumed:
            job = await self._skip_landed(job, plan)
        await self._show(job, "posting")
        for index in range(job.parts_delivered, len(plan)):
            if not all(isinstance(images[i], DownloadedImage) for i in plan[index]):
                # The links expired since the plan was made: the rest can't be delivered.
                return self._partial(job, plan, Failed(Failure.DOWNLOAD))
            part = built.get(index)
            if part is None:
                try:
                    part = await build_part(images, plan[index], **await self._shape(job))
                except CannotFit:
                    return self._partial(job, plan, Failed(Failure.TOO_LARGE))
            posted = await self._post_part(job, plan, index, part)
            if isinstance(posted, Failed):
                return self._partial(job, plan, posted)
            job = posted
        delivered = _count(plan)
        if delivered < len(job.result_urls):
            # Some images never downloaded (gone, stalled): not charged, and the member told.
            return Delivered(delivered, partial(delivered, len(job.result_urls), Failure.DOWNLOAD))
        return Delivered(images=delivered)

    async def _fetch(self, job: Job, wanted: set[int]) -> list[ImageSlot]:
        """Download the wanted images; every other position (and each failure) is None."""
        order = sorted(wanted)
        fetched = await self.download([job.result_urls[i] for i in order])
        images: list[ImageSlot] = [None] * len(job.result_urls)
        for i, result in zip(order, fetched, strict=True):
            if isinstance(result, Exception):
                log.warning("%s: image %d not downloaded: %s", job.ctx, i + 1, result)
            else:
                images[i] = result
        return images

    async def _shape(self, job: Job) -> dict[str, Any]:
        """Return how this job's messages are cut: the route's limit, names, spoilers."""
        return {
            "limit_bytes": await self.delivery.upload_limit(job),
            "stem": f"imagine_{job.id[:8]}",
            "spoiler": job.spoiler,
        }

    async def _skip_landed(self, job: Job, plan: Plan) -> Job:
        """Count as posted the parts the chat side already shows (posted just before a crash)."""
        landed = await self.delivery.posted_parts(job)
        if landed is None or landed <= job.parts_delivered:
            return job
        log.info("%s: %d part(s) had landed before the restart", job.ctx, landed)
        updated = await self.store.update(
            job.id, parts_delivered=min(landed, len(plan)), updated_at=self.clock()
        )
        return updated or job

    async def _post_part(self, job: Job, plan: Plan, index: int, built: Part) -> Job | Failed:
        # Checked just before posting, so a process that lost the job (LeaseLost, raised
        # here) or whose job ended posts nothing: the post is the one step no row can undo.
        if (
            await self.store.update(job.id, expect={JobState.DELIVERING}, updated_at=self.clock())
            is None
        ):
            return Failed(Failure.NOT_POSTED)
        part = ResultPart(
            index=index,
            count=len(plan),
            attachments=built.attachments,
            # Full-resolution links for the images that had to be shrunk to fit.
            originals={i + 1: job.result_urls[i] for i in built.reencoded},
        )
        via = await self._post(job, part)
        if isinstance(via, Failed):
            return via
        metrics.DELIVERY_BYTES.inc(built.size)
        updated = await self.store.update(
            job.id, parts_delivered=index + 1, delivered_via=via, updated_at=self.clock()
        )
        return updated or job

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

    @staticmethod
    def _partial(job: Job, plan: Plan, why: Failed) -> Delivered | Failed:
        """Some parts are out, the rest never will be: charge only what was posted."""
        posted = _count(plan[: job.parts_delivered])
        if posted == 0:
            return why
        return Delivered(images=posted, failed=partial(posted, len(job.result_urls), why.failure))


def _count(plan: Sequence[tuple[int, ...]]) -> int:
    return sum(len(part) for part in plan)


def _indexes(parts: Sequence[tuple[int, ...]]) -> list[int]:
    return [i for part in parts for i in part]
