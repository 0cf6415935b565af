"""Whether a member's request may run: every rule in one place, in the order a member meets it.

The cogs turn an interaction into an `Ask` (ids and values, no discord objects) and render
what comes back; everything decided here either returns what to run or raises a
UserFacingError whose message (a bot/i18n `Text`, rendered in the member's language) says
why not. Buttons (Reroll, Remix, Cancel, Delete) and `/quota` come through here too, so
every refusal reads the same wherever it is met.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.control.channels import check_caps, is_allowed
from bot.control.control import Control
from bot.control.quotas import QuotaFigure
from bot.errors import UserFacingError
from bot.i18n import Text, _, ngettext
from bot.jobs.engine import JobEngine
from bot.jobs.models import InteractionRef, Job, JobOptions, JobState
from bot.jobs.outcomes import Failure
from bot.jobs.references import Peek, Reference, problem
from bot.jobs.store import JobStore
from bot.kie import MAX_IMAGES, MAX_PROMPT_CHARS, ImageSize, Resolution
from bot.store.database import Connection

__all__ = ["SEED_MAX", "SEED_MIN", "Admission", "Ask", "Standing", "TooManyJobs", "new_seed"]

# kie's docs show seeds in the signed 32-bit range (e.g. -88165251, 50331296).
SEED_MIN, SEED_MAX = -(2**31), 2**31 - 1


class TooManyJobs(UserFacingError):
    """The member already has as many jobs at kie and waiting in line as the bot allows."""


# Requests told their outcome per turn of the event loop (see Admission._write).
_SETTLE_PER_TURN = 8

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
    # Pictures to start from (kie's edit model), in the order kie gets them.
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True, slots=True)
class Standing:
    """What /quota shows: each limit's figures, the jobs in flight, and any channel refusal."""

    figures: Sequence[QuotaFigure]
    jobs: Sequence[Job]
    max_jobs: int  # at kie at once
    refusal: Text | None
    max_queued: int = 0  # more waiting in line


@dataclass(slots=True)
class _Pending:
    """An admitted-so-far request waiting for the writer: its job, and who waits for it."""

    ask: Ask
    job: Job
    done: asyncio.Future[Job]


@dataclass(slots=True)
class _Held:
    """A member's jobs holding a place: at kie, and waiting in line."""

    at_kie: int
    waiting: int


def check_prompt(prompt: str) -> str:
    """Return the prompt trimmed, or refuse it naming the option."""
    prompt = prompt.strip()
    if not prompt:
        raise UserFacingError(_("`prompt` is empty. Describe what to draw."))
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserFacingError(
            _(
                "`prompt` is {length} characters; the limit is {most}.",
                length=len(prompt),
                most=MAX_PROMPT_CHARS,
            )
        )
    return prompt


def new_seed() -> int:
    """Pick a seed: kie does not report the one it picked, so the result shows ours."""
    # 31 random bits: 0…SEED_MAX, one read of the system's randomness (randbelow(2**31)
    # draws 32 bits and throws half of them away, two reads on average).
    return secrets.randbits(31)


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
        batch: int = 64,
        peek: Peek | None = None,
    ) -> None:
        self.control = control
        # Reads the first bytes of a reference image (bot/jobs/references.py).
        self.peek = peek
        self.jobs = jobs
        self.engine = engine
        # Up to max_jobs_per_member of a member's jobs at kie, max_queued_per_member more
        # waiting in line (the engine's line keeps the first limit: bot/jobs/line.py).
        self.max_jobs_per_member = max_jobs_per_member
        self.max_queued_per_member = max_queued_per_member
        self.clock = clock
        # Requests that passed every read-only rule wait here for the one writer, which
        # reserves and writes up to `batch` of them in one transaction (one commit, one
        # fsync, for a burst), in arrival order.
        self.batch = batch
        self._pending: deque[_Pending] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def admit(self, ask: Ask) -> Job:
        """Check every rule, reserve the quota, write the job and queue it; or refuse."""
        if not self.engine.accepting:
            raise UserFacingError(Failure.SHUTTING_DOWN.message())
        options = await self.options(ask)
        pending = _Pending(
            ask, self._new_job(ask, options), asyncio.get_running_loop().create_future()
        )
        self._pending.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="admission-writer")
        return await pending.done

    async def _write(self) -> None:
        """Reserve and write waiting requests, a batch per transaction, until none is left."""
        while self._pending:
            batch = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
            try:
                outcomes = await self._write_batch(batch)
            except asyncio.CancelledError:
                for pending in batch:
                    pending.done.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - each waiting request re-raises it
                # Nothing of the batch was committed: each request fails as one would alone.
                for pending in batch:
                    _settle(pending.done, exc)
                continue
            told: list[tuple[_Pending, Job | BaseException]] = []
            for pending, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Job):
                    try:
                        await self.engine.accept(outcome)
                    except Exception as exc:  # noqa: BLE001 - told to its requester
                        told.append((pending, exc))
                        continue
                told.append((pending, outcome))
            # Each requester then sends its first real message: a few per turn of the event
            # loop, not a whole batch's, so acknowledgements of new commands never wait long
            # behind them.
            for start in range(0, len(told), _SETTLE_PER_TURN):
                if start:
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        for pending, _ in told[start:]:
                            pending.done.cancel()
                        raise
                for pending, result in told[start : start + _SETTLE_PER_TURN]:
                    _settle(pending.done, result)

    async def _write_batch(self, batch: Sequence[_Pending]) -> list[Job | UserFacingError]:
        """Reserve each request's quota and write its row, all committing together.

        One transaction for the batch, which on SQLite runs whole on the database's thread
        (`run_transaction`): one hand-over for up to `batch` requests, not one per statement.
        """
        return await self.control.db.run_transaction(lambda tx: self._admit_batch(batch, tx))

    async def _admit_batch(
        self, batch: Sequence[_Pending], tx: Connection
    ) -> list[Job | UserFacingError]:
        """The batch's transaction; it awaits only `tx` (see `Database.run_transaction`).

        A member's places are counted inside it, before their first request of the batch, and
        then follow what the batch adds; only this writer adds jobs, so the count can only
        overstate what they hold (jobs leave meanwhile, none join): nobody gets more than the
        limits.
        """
        held: dict[tuple[int, int], _Held] = {}
        outcomes: list[Job | UserFacingError] = []
        for pending in batch:
            key = (pending.ask.guild_id, pending.ask.user_id)
            places = held.get(key)
            if places is None:
                states = await self.jobs.states_held(*key, conn=tx)
                places = held[key] = _Held(
                    at_kie=sum(states.get(state, 0) for state in AT_KIE),
                    waiting=states.get(JobState.QUEUED, 0),
                )
            full = self._line_full(places)
            try:
                if full is None:
                    await self._reserve(pending, tx)  # its own savepoint on refusal
                    await self.jobs.insert(pending.job, conn=tx)
                    places.waiting += 1
                    outcomes.append(pending.job)
                    continue
                # The quota is asked first even so, to say which limit refuses and when
                # it resets; then the line's refusal undoes the reservation.
                await tx.execute("SAVEPOINT line_full")
                try:
                    await self._reserve(pending, tx)
                finally:
                    await tx.execute("ROLLBACK TO SAVEPOINT line_full")
                    await tx.execute("RELEASE SAVEPOINT line_full")
                outcomes.append(full)
            except UserFacingError as refused:  # the quota's refusal
                outcomes.append(refused)
        return outcomes

    async def _reserve(self, pending: _Pending, tx: Connection) -> None:
        ask, job = pending.ask, pending.job
        await self.control.quotas.reserve(
            job_id=job.id,
            guild_id=job.guild_id,
            channel_id=ask.rules_channel_id,
            user_id=job.user_id,
            role_ids=ask.role_ids,
            images=job.options.images,
            now=job.created_at,
            conn=tx,
        )

    def _line_full(self, held: _Held) -> TooManyJobs | None:
        """Return the refusal if the member's jobs fill both their kie and waiting places."""
        at_kie, waiting = held.at_kie, held.waiting
        at_once, more = self.max_jobs_per_member, self.max_queued_per_member
        if at_kie + waiting < at_once + more:
            return None
        return TooManyJobs(
            ngettext(
                "You already have {n} image request at kie.ai and {waiting} waiting in line; "
                "the limit is {at_once} at kie.ai at once and {more} more waiting. "
                "Wait for one to finish, or cancel one.",
                "You already have {n} image requests at kie.ai and {waiting} waiting in line; "
                "the limit is {at_once} at kie.ai at once and {more} more waiting. "
                "Wait for one to finish, or cancel one.",
                at_kie,
                waiting=waiting,
                at_once=at_once,
                more=more,
            )
        )

    async def options(self, ask: Ask) -> JobOptions:
        """Apply the prompt rules and the channel's rules and defaults, or refuse."""
        prompt = check_prompt(ask.prompt)
        if ask.images is not None and not 1 <= ask.images <= MAX_IMAGES:
            raise UserFacingError(_("`images` must be from 1 to {most}.", most=MAX_IMAGES))
        if ask.seed is not None and not SEED_MIN <= ask.seed <= SEED_MAX:
            raise UserFacingError(
                _("`seed` must be from {least} to {most}.", least=SEED_MIN, most=SEED_MAX)
            )
        for reference in ask.references:
            refusal = await problem(reference, now=self.clock(), peek=self.peek)
            if refusal is not None:
                raise UserFacingError(refusal)
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
            references=ask.references,
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
            raise UserFacingError(_("That request no longer exists."))
        return job

    @staticmethod
    def ensure_may_cancel(job: Job, user_id: int) -> None:
        """Refuse unless the member asked for the job."""
        if job.user_id != user_id:
            raise UserFacingError(_("Only the member who asked for these images can cancel them."))

    async def cancel(self, job_id: str, user_id: int) -> Job:
        """Cancel a job for its requester (full refund), or refuse saying why not."""
        self.ensure_may_cancel(await self.job(job_id), user_id)
        cancelled = await self.engine.cancel(job_id)
        if cancelled is None:
            raise UserFacingError(_("Too late to cancel: the images are already being delivered."))
        return cancelled

    @staticmethod
    def ensure_may_delete(job: Job, user_id: int, *, manages_messages: bool) -> None:
        """Refuse unless the member asked for the result or moderates messages."""
        if user_id != job.user_id and not manages_messages:
            raise UserFacingError(
                _(
                    "Only the member who asked for these images, or a moderator with Manage "
                    "Messages, can delete them."
                )
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


def _settle(future: asyncio.Future[Job], outcome: Job | BaseException) -> None:
    """Give a waiting request its outcome (unless its caller stopped waiting)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
