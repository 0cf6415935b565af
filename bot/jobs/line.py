"""The line: jobs waiting for kie, taken in turn across members, cheap at any length.

Each waiting job gets a fixed tag when it joins, ``(round, sequence)`` with
``round = max(current round, the member's last round + 1)``. The line is the waiting tags
in order, and taking means taking the smallest tag, so:

- members take turns: one job per member per round, first come first served within a
  member, and a newcomer joins the current round, so a member with many jobs waiting never
  delays another member's first job by more than one round;
- tags never change, so a job's place is the rank of its tag among the waiting tags, which
  `sortedcontainers.SortedList` gives in O(log n): nothing is rebuilt or walked.

At most `max_at_kie` of a member's jobs are at kie at once (taken, not yet gone from kie:
SUBMITTING or RUNNING). While a member is at that limit their waiting jobs stay in the line
and keep their places, but `take` skips them until `remove` says one of their jobs left kie.
A member's next job is always their smallest tag, so the line keeps, besides every waiting
tag, one "ready" tag per member who may send now: `take` pops the smallest ready tag.

Cost, with n jobs waiting: `put`, `take`, `put_back`, `remove` and `place` are O(log n), plus
O(k) in the member's own k waiting jobs (k ≤ MAX_QUEUED_PER_MEMBER + MAX_JOBS_PER_MEMBER;
see bot/control/admission.py). Only `order()`, for tests and diagnostics, walks the line.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Hashable, Iterator

from sortedcontainers import SortedList

from bot.jobs.models import Job

__all__ = ["Line", "member_of"]

# A tag is one int: round * _ROUND + sequence (ints compare faster than tuples).
_ROUND = 1 << 40


def member_of(job: Job) -> Hashable:
    """Return whose turn a job takes: a member in a server (the limits are per server)."""
    return (job.guild_id, job.user_id)


class _Member:
    """One member's place in the turns: their waiting tags (ascending) and jobs at kie."""

    __slots__ = ("at_kie", "last_round", "ready_tag", "waiting")

    def __init__(self) -> None:
        self.waiting: list[int] = []
        self.at_kie = 0
        self.last_round = -1
        self.ready_tag: int | None = None  # the tag this member has in Line._ready


class Line:
    """Waiting jobs in turn order; at most `max_at_kie` of a member's jobs at kie at once."""

    def __init__(self, *, max_at_kie: int) -> None:
        if max_at_kie < 1:
            raise ValueError("max_at_kie must be at least 1")
        self.max_at_kie = max_at_kie
        self._tags: SortedList[int] = SortedList()  # every waiting job's tag
        self._ready: SortedList[int] = SortedList()  # each sendable member's next tag
        self._jobs: dict[int, Job] = {}  # tag → waiting job
        self._tag_of: dict[str, int] = {}  # waiting job id → tag
        # Job id → (member, tag it had in the line or None, job) for jobs at kie.
        self._kie: dict[str, tuple[Hashable, int | None, Job]] = {}
        self._members: dict[Hashable, _Member] = {}
        # Idle members whose last round may still be current (an ordered set); see _drop_idle.
        self._idle: dict[Hashable, None] = {}
        self._round = 0
        self._seq = 0
        # How many jobs have left the waiting line (taken or removed): places announced
        # earlier can only have dropped by at most this much since (bot/jobs/places.py).
        self.departures = 0
        self._nonempty = asyncio.Event()

    # -- sizes -----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Return how many jobs are waiting."""
        return len(self._tags)

    def __contains__(self, job_id: object) -> bool:
        """Return whether the job is waiting in the line."""
        return job_id in self._tag_of

    @property
    def at_kie(self) -> int:
        """Return how many taken jobs have not left kie yet."""
        return len(self._kie)

    @property
    def ready(self) -> int:
        """Return how many members may send a job now (each has one taken next)."""
        return len(self._ready)

    # -- joining ---------------------------------------------------------------------------

    def put(self, job: Job) -> int | None:
        """Add an accepted job behind its member's others; return its place (1 = next).

        Safe to call again: a job already waiting keeps its place (returned), and a job
        already taken stays taken (None); a start's resume and an accept may both see it.
        """
        tag = self._tag_of.get(job.id)
        if tag is not None:
            return self._place(tag)
        if job.id in self._kie:
            return None
        key = member_of(job)
        member = self._member(key)
        round_ = max(self._round, member.last_round + 1)
        member.last_round = round_
        tag = round_ * _ROUND + self._next_seq()
        member.waiting.append(tag)  # the member's largest round so far: stays ascending
        self._add(tag, job)
        self._refresh(key, member)
        return self._place(tag)

    def hold(self, job: Job) -> None:
        """Count a job that is already at kie (found SUBMITTING or RUNNING at start)."""
        if job.id in self._tag_of or job.id in self._kie:
            return  # known already
        key = member_of(job)
        member = self._member(key)
        member.at_kie += 1
        self._kie[job.id] = (key, None, job)
        self._refresh(key, member)

    # -- taking ----------------------------------------------------------------------------

    def take_nowait(self) -> Job | None:
        """Take the next job whose member is under the kie limit; None if there is none.

        The job counts as at kie from now on, until `remove` (it left kie or ended) or
        `put_back` (kie said "not now").
        """
        if not self._ready:
            return None
        tag = self._ready.pop(0)
        job = self._jobs.pop(tag)
        del self._tag_of[job.id]
        self._tags.remove(tag)
        key = member_of(job)
        member = self._members[key]
        member.ready_tag = None
        member.waiting.pop(0)  # the ready tag is always the member's first
        member.at_kie += 1
        self._kie[job.id] = (key, tag, job)
        self.departures += 1
        round_ = tag // _ROUND
        if round_ > self._round:
            self._round = round_
            self._drop_idle()
        self._refresh(key, member)
        return job

    async def take(self) -> Job:
        """Wait for and take the next job (see take_nowait)."""
        while True:
            job = self.take_nowait()
            if job is not None:
                return job
            self._nonempty.clear()
            await self._nonempty.wait()

    def put_back(self, job_id: str) -> int | None:
        """Return a taken job to its place (kie said "not now"); return its place.

        It keeps the tag it had, so it is again first among its member's jobs and ahead of
        everyone who joined after it. None when the job was not at kie (cancelled meanwhile).
        """
        entry = self._kie.pop(job_id, None)
        if entry is None:
            return None
        key, tag, job = entry
        member = self._members[key]
        member.at_kie -= 1
        if tag is None:  # held since a start: it never had a tag
            tag = self._round * _ROUND + self._next_seq()
        bisect.insort(member.waiting, tag)
        self._add(tag, job)
        self._refresh(key, member)
        return self._place(tag)

    # -- leaving ---------------------------------------------------------------------------

    def remove(self, job_id: str) -> bool:
        """Forget a job wherever it is in the line; return True if it was waiting.

        A waiting job leaves the line (cancelled, failed); a job at kie frees its member's
        slot (it finished at kie, failed or was cancelled). Unknown ids are ignored, so it is
        safe to call on every ending.
        """
        tag = self._tag_of.pop(job_id, None)
        if tag is not None:
            job = self._jobs.pop(tag)
            self._tags.remove(tag)
            key = member_of(job)
            member = self._members[key]
            member.waiting.remove(tag)  # _refresh drops it from _ready if it was there
            self.departures += 1
            self._refresh(key, member)
            return True
        entry = self._kie.pop(job_id, None)
        if entry is not None:
            key = entry[0]
            member = self._members[key]
            member.at_kie -= 1
            self._refresh(key, member)
        return False

    # -- places ----------------------------------------------------------------------------

    def place(self, job_id: str) -> int | None:
        """Return the waiting job's place (1 = taken next, members' limits aside), or None."""
        tag = self._tag_of.get(job_id)
        return None if tag is None else self._place(tag)

    def job(self, job_id: str) -> Job | None:
        """Return the waiting job with this id (as it was when it joined)."""
        tag = self._tag_of.get(job_id)
        return None if tag is None else self._jobs[tag]

    def own(self, job_id: str) -> tuple[int, int]:
        """Return (the member's waiting jobs ahead of this one, the member's jobs at kie)."""
        tag = self._tag_of.get(job_id)
        if tag is None:
            return 0, 0
        member = self._members[member_of(self._jobs[tag])]
        return bisect.bisect_left(member.waiting, tag), member.at_kie

    def front(self, count: int) -> Iterator[tuple[int, Job]]:
        """Yield (place, job) for the first `count` waiting jobs: O(log n + count)."""
        for place, tag in enumerate(self._tags.islice(0, count), start=1):
            yield place, self._jobs[tag]

    def order(self) -> list[str]:
        """Return every waiting job id in line order. O(n): for tests and diagnostics only."""
        return [self._jobs[tag].id for tag in self._tags]

    # -- inside ----------------------------------------------------------------------------

    def _place(self, tag: int) -> int:
        return int(self._tags.bisect_left(tag)) + 1

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _member(self, key: Hashable) -> _Member:
        member = self._members.get(key)
        if member is None:
            member = self._members[key] = _Member()
        return member

    def _add(self, tag: int, job: Job) -> None:
        self._tags.add(tag)
        self._jobs[tag] = job
        self._tag_of[job.id] = tag

    def _refresh(self, key: Hashable, member: _Member) -> None:
        """Keep exactly the member's first waiting tag ready while they are under the limit."""
        want = member.waiting[0] if member.waiting and member.at_kie < self.max_at_kie else None
        if member.ready_tag != want:
            if member.ready_tag is not None:
                self._ready.remove(member.ready_tag)
            if want is not None:
                self._ready.add(want)
                self._nonempty.set()
            member.ready_tag = want
        if not member.waiting and member.at_kie == 0:
            if member.last_round < self._round:
                del self._members[key]
            else:
                # Their last round is still current: remember it until the round moves on,
                # so a member who comes straight back can't take a second turn in it.
                self._idle[key] = None

    def _drop_idle(self) -> None:
        """Forget idle members whose last round has passed (amortised O(1) per member)."""
        for key in list(self._idle):
            member = self._members.get(key)
            if member is None or member.waiting or member.at_kie:
                del self._idle[key]  # gone already, or busy again
            elif member.last_round < self._round:
                del self._members[key]
                del self._idle[key]
