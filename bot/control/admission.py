"""Whether a member's request may run: every rule in one place, in the order a member meets it.

The cogs turn an interaction into an `Ask` (ids and values, no discord objects) and render
what comes back; everything decided here either returns what to run or raises a
UserFacingError whose message says why not. Buttons (Reroll, Remix, Cancel, Delete) and
`/quota` come through here too, so every refusal reads the same wherever it is met.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.control.channels import check_caps, is_allowed
from bot.control.control import Control
from bot.control.quotas import QuotaFigure
from bot.errors import UserFacingError
from bot.jobs.engine import JobEngine
from bot.jobs.models import InteractionRef, Job, JobOptions, JobState
from bot.jobs.outcomes import Failure
from bot.jobs.store import JobStore
from bot.kie import MAX_IMAGES, MAX_PROMPT_CHARS, ImageSize, Resolution

__all__ = ["SEED_MAX", "SEED_MIN", "Admission", "Ask", "Standing", "TooManyJobs", "new_seed"]

# kie's docs show seeds in the signed 32-bit range (e.g. -88165251, 50331296).
SEED_MIN, SEED_MAX = -(2**31), 2**31 - 1


class TooManyJobs(UserFacingError):
    """The member already has as many jobs at kie and waiting in line as the bot allows."""


# A member's jobs that hold a place at kie (MAX_JOBS_PER_MEMBER) or in line (MAX_QUEUED_…).
AT_KIE = frozenset({JobState.SUBMITTING, JobState.RUNNING})


@dataclass(frozen=True, slots=True)
class Ask:
    """A member's request, as ids and values (the cog builds it from the interaction)."""

    guild_id: int
    channel_id: int  # where the command was used: results go here
    rules_channel_id: int  # whose settings and quota total apply (a thread's parent)
    channel_is_nsfw: bool
    user_id: int
    role_ids: tuple[int, ...]
    prompt: str
    size: str | None = None
    resolution: str | None = None
    images: int | None = None
    seed: int | None = None
    interaction: InteractionRef | None = None
    parent_job_id: str | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """What /quota shows: each limit's figures, the jobs in flight, and any channel refusal."""

    figures: Sequence[QuotaFigure]
    jobs: Sequence[Job]
    max_jobs: int  # at kie at once
    refusal: str | None
    max_queued: int = 0  # more waiting in line


def check_prompt(prompt: str) -> str:
    """Return the prompt trimmed, or refuse it naming the option."""
    prompt = prompt.strip()
    if not prompt:
        raise UserFacingError("`prompt` is empty. Describe what to draw.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserFacingError(
            f"`prompt` is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}."
        )
    return prompt


def new_seed() -> int:
    """Pick a seed: kie does not report the one it picked, so the result shows ours."""
    return secrets.randbelow(SEED_MAX + 1)


class Admission:
    """Decides, for each request, whether it may run, and hands admitted jobs to the engine."""

    def __init__(
        self,
        *,
        control: Control,
        jobs: JobStore,
        engine: JobEngine,
        max_jobs_per_member: int,
        max_queued_per_member: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.control = control
        self.jobs = jobs
        self.engine = engine
        # Up to max_jobs_per_member of a member's jobs at kie, max_queued_per_member more
        # waiting in line (the engine's line keeps the first limit: bot/jobs/line.py).
        self.max_jobs_per_member = max_jobs_per_member
        self.max_queued_per_member = max_queued_per_member
        self.clock = clock
        # One member's requests are admitted one at a time, so two quick ones can't both
        # pass the per-member limits.
        self._member_locks: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def admit(self, ask: Ask) -> Job:
        """Check every rule, reserve the quota, write the job and queue it; or refuse."""
        if not self.engine.accepting:
            raise UserFacingError(Failure.SHUTTING_DOWN.text())
        options = await self.options(ask)
        key = (ask.guild_id, ask.user_id)
        lock = self._member_locks.get(key)
        if lock is None:
            lock = self._member_locks[key] = asyncio.Lock()
        async with lock:
            # Counted first, reported after the quota: a member over both hears about the
            # quota, which says which limit and when it resets. Only this member's own
            # admissions add to the count, and they wait for this lock.
            full = self._line_full(await self.jobs.in_flight(ask.guild_id, ask.user_id))
            job = self._new_job(ask, options)
            # The reservation and the row commit together: neither exists without the other.
            async with self.control.db.transaction() as tx:
                await self.control.quotas.reserve(
                    job_id=job.id,
                    guild_id=job.guild_id,
                    channel_id=ask.rules_channel_id,
                    user_id=job.user_id,
                    role_ids=ask.role_ids,
                    images=options.images,
                    now=job.created_at,
                    conn=tx,
                )
                if full is not None:
                    raise full  # rolls the reservation back
                await self.jobs.insert(job, conn=tx)
        await self.engine.accept(job)
        return job

    def _line_full(self, in_flight: Sequence[Job]) -> TooManyJobs | None:
        """Return the refusal if the member's jobs fill both their kie and waiting places."""
        at_kie = sum(job.state in AT_KIE for job in in_flight)
        waiting = sum(job.state is JobState.QUEUED for job in in_flight)
        at_once, more = self.max_jobs_per_member, self.max_queued_per_member
        if at_kie + waiting < at_once + more:
            return None
        return TooManyJobs(
            f"You already have {_requests(at_kie)} at kie.ai and {waiting} waiting in line; "
            f"the limit is {at_once} at kie.ai at once and {more} more waiting. "
            "Wait for one to finish, or cancel one."
        )

    async def options(self, ask: Ask) -> JobOptions:
        """Apply the prompt rules and the channel's rules and defaults, or refuse."""
        prompt = check_prompt(ask.prompt)
        if ask.images is not None and not 1 <= ask.images <= MAX_IMAGES:
            raise UserFacingError(f"`images` must be from 1 to {MAX_IMAGES}.")
        if ask.seed is not None and not SEED_MIN <= ask.seed <= SEED_MAX:
            raise UserFacingError(f"`seed` must be from {SEED_MIN} to {SEED_MAX}.")
        channels = self.control.channels
        settings = await channels.get(ask.guild_id, ask.rules_channel_id)
        refusal = is_allowed(settings, await channels.get_mode(ask.guild_id))
        if refusal:
            raise UserFacingError(refusal)
        resolution = ask.resolution or settings.resolution
        images = ask.images or settings.images
        # What kie will receive (the prompt and any count sentence), not just the prompt.
        await self.control.blocklist.ensure_clean(ask.guild_id, prompt, images=images)
        refusal = check_caps(settings, resolution=resolution, images=images)
        if refusal:
            raise UserFacingError(refusal)
        return JobOptions(
            prompt=prompt,
            size=ImageSize(ask.size or settings.image_size),
            resolution=Resolution(resolution),
            images=images,
            seed=ask.seed if ask.seed is not None else new_seed(),
            safety=settings.safety_for(ask.channel_is_nsfw),
        )

    def _new_job(self, ask: Ask, options: JobOptions) -> Job:
        now = self.clock()
        return Job(
            id=uuid.uuid4().hex,
            callback_token=secrets.token_urlsafe(32),
            guild_id=ask.guild_id,
            channel_id=ask.channel_id,
            user_id=ask.user_id,
            state=JobState.QUEUED,
            options=options,
            created_at=now,
            updated_at=now,
            spoiler=not options.safety,
            parent_job_id=ask.parent_job_id,
            interaction=ask.interaction,
        )

    # -- what members may do with existing jobs --------------------------------------------

    async def job(self, job_id: str) -> Job:
        """Return the job a button names, or refuse if it is gone."""
        job = await self.jobs.get(job_id)
        if job is None:
            raise UserFacingError("That request no longer exists.")
        return job

    @staticmethod
    def ensure_may_cancel(job: Job, user_id: int) -> None:
        """Refuse unless the member asked for the job."""
        if job.user_id != user_id:
            raise UserFacingError("Only the member who asked for these images can cancel them.")

    async def cancel(self, job_id: str, user_id: int) -> Job:
        """Cancel a job for its requester (full refund), or refuse saying why not."""
        self.ensure_may_cancel(await self.job(job_id), user_id)
        cancelled = await self.engine.cancel(job_id)
        if cancelled is None:
            raise UserFacingError("Too late to cancel: the images are already being delivered.")
        return cancelled

    @staticmethod
    def ensure_may_delete(job: Job, user_id: int, *, manages_messages: bool) -> None:
        """Refuse unless the member asked for the result or moderates messages."""
        if user_id != job.user_id and not manages_messages:
            raise UserFacingError(
                "Only the member who asked for these images, or a moderator with Manage "
                "Messages, can delete them."
            )

    async def standing(
        self, guild_id: int, rules_channel_id: int, user_id: int, role_ids: Sequence[int]
    ) -> Standing:
        """Return what the member may still do here, for /quota."""
        figures = await self.control.quotas.status(
            guild_id, rules_channel_id, user_id, role_ids, self.clock()
        )
        channels = self.control.channels
        settings = await channels.get(guild_id, rules_channel_id)
        return Standing(
            figures=figures,
            jobs=await self.jobs.in_flight(guild_id, user_id),
            max_jobs=self.max_jobs_per_member,
            refusal=is_allowed(settings, await channels.get_mode(guild_id)),
            max_queued=self.max_queued_per_member,
        )


def _requests(count: int) -> str:
    return f"{count} image request" + ("" if count == 1 else "s")
