"""Which places in line to announce, and when: true enough, and never a flood.

A waiting member sees their place and when their job will likely start (`Progress`). The
first message comes from the cog right after admission (`Places.progress`). After that,
`Places.due` is asked about once a second and names the few jobs worth an edit now, never
more than `per_second` a second on average:

- the first `front` jobs (100): whenever their place changed and they were last told at
  least `front_every` (30 s) ago, nearest first;
- everyone further back: when their place has at least halved since they were last told.

Nothing walks the line. The front is a slice of the first `front` tags. For the rest, a
job told place p can only reach p/2 once p - p/2 jobs have left the line
(`Line.departures`), so each is parked in a heap under that departure count and looked at
again only then: O(log n) per announcement, whatever the length of the line. No database is
read: the line holds the waiting jobs as they were accepted.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.jobs.line import Line
from bot.jobs.models import Job
from bot.jobs.polling import DEFAULT_EXPECTED
from bot.jobs.ports import Progress
from bot.kie import CREATE_TASK_LIMIT

__all__ = ["CREATE_RATE", "Places", "expected_start"]

# createTasks kie takes per second at most: 20 per 10 s, as the client spaces them (with its
# margin; bot/kie/limiter.py). About 1.98.
CREATE_RATE = CREATE_TASK_LIMIT.max_calls / (CREATE_TASK_LIMIT.window + CREATE_TASK_LIMIT.margin)


def expected_start(
    place: int,
    *,
    now: float,
    own_ahead: int = 0,
    own_at_kie: int = 0,
    max_at_kie: int = 1,
    kie_seconds: float = DEFAULT_EXPECTED["1K"],
    rate: float = CREATE_RATE,
) -> float:
    """Return when a job at `place` will likely be sent to kie (Unix time).

    The line drains at kie's createTask rate; a member at their kie limit also waits for
    their own jobs ahead to finish there, `max_at_kie` at a time, `kie_seconds` each.
    """
    line_wait = max(place, 1) / rate
    # The member's jobs that must leave kie before this one may go.
    must_leave = own_at_kie + own_ahead - max_at_kie + 1
    own_wait = math.ceil(must_leave / max_at_kie) * kie_seconds if must_leave > 0 else 0.0
    return now + max(line_wait, own_wait)


@dataclass(slots=True)
class _Told:
    place: int
    at: float
    version: int


class Places:
    """Decides which waiting jobs to tell their new place, within a budget of edits."""

    def __init__(
        self,
        line: Line,
        *,
        per_second: float = 6.0,
        front: int = 100,
        front_every: float = 30.0,
        expected: Mapping[str, float] = DEFAULT_EXPECTED,
        rate: float = CREATE_RATE,
    ) -> None:
        self.line = line
        self.per_second = per_second
        self.front = front
        self.front_every = front_every
        self.expected = dict(expected)
        self.rate = rate
        self._told: dict[str, _Told] = {}
        # (departures at which the place may have halved, tie-break, job id, version)
        self._milestones: list[tuple[int, int, str, int]] = []
        self._due: deque[str] = deque()  # halved (or never told): wait for the budget
        self._due_set: set[str] = set()
        self._versions = 0
        self._tokens = per_second
        self._last: float | None = None

    def __len__(self) -> int:
        """Return how many jobs this remembers telling (waiting ones, mostly)."""
        return len(self._told)

    # -- what a member sees ----------------------------------------------------------------

    def progress(self, job_id: str, now: float) -> Progress | None:
        """Return what the waiting job's member should see now: place and expected start."""
        job = self.line.job(job_id)
        place = self.line.place(job_id)
        if job is None or place is None:
            return None
        return self._progress(job, place, now)

    def _progress(self, job: Job, place: int, now: float) -> Progress:
        own_ahead, own_at_kie = self.line.own(job.id)
        limit = self.line.max_at_kie
        return Progress(
            queue_position=place,
            starts_at=expected_start(
                place,
                now=now,
                own_ahead=own_ahead,
                own_at_kie=own_at_kie,
                max_at_kie=limit,
                kie_seconds=self.expected.get(job.options.resolution.value, 25.0),
                rate=self.rate,
            ),
            behind_own=own_ahead + own_at_kie >= limit,
        )

    # -- what was shown --------------------------------------------------------------------

    def shown(self, job_id: str, place: int, now: float) -> None:
        """Note that the member was just shown `place` (e.g. by the cog, on accepting it)."""
        self._versions += 1
        self._told[job_id] = _Told(place, now, self._versions)
        if place > self.front:
            # At the earliest, the place halves once place - place // 2 jobs have left.
            at = self.line.departures + place - place // 2
            heapq.heappush(self._milestones, (at, self._versions, job_id, self._versions))

    def unseen(self, job_id: str) -> None:
        """Announce this job when the budget allows (resumed at start: its message is old)."""
        self._told.pop(job_id, None)
        if job_id not in self._due_set:
            self._due_set.add(job_id)
            self._due.append(job_id)

    def forget(self, job_id: str) -> None:
        """Stop tracking a job that left the line (its heap entry is dropped lazily)."""
        self._told.pop(job_id, None)

    # -- what to announce now --------------------------------------------------------------

    async def run(
        self,
        show: Callable[[Job, Progress], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.time,
        every: float = 1.0,
    ) -> None:
        """Every `every` seconds, `show` what `due` names (the engine's progress call)."""
        while True:
            await asyncio.sleep(every)
            for job, progress in self.due(clock()):
                await show(job, progress)

    def due(self, now: float) -> list[tuple[Job, Progress]]:
        """Return the announcements to make now, and count them as shown."""
        if self._last is not None:
            self._tokens = min(
                self._tokens + (now - self._last) * self.per_second, 2 * self.per_second
            )
        self._last = now
        budget = int(self._tokens)
        picked: dict[str, tuple[Job, int]] = {}
        if budget > 0:
            self._front(now, budget, picked)
        self._ripen()
        while len(picked) < budget and self._due:
            job_id = self._due.popleft()
            self._due_set.discard(job_id)
            job, place = self.line.job(job_id), self.line.place(job_id)
            if job is None or place is None:
                self._told.pop(job_id, None)
            else:
                picked[job_id] = (job, place)
        self._tokens -= len(picked)
        out = []
        for job, place in picked.values():
            self.shown(job.id, place, now)
            out.append((job, self._progress(job, place, now)))
        return out

    def _front(self, now: float, budget: int, picked: dict[str, tuple[Job, int]]) -> None:
        for place, job in self.line.front(self.front):
            if len(picked) >= budget:
                return
            told = self._told.get(job.id)
            if told is None or (told.place != place and now - told.at >= self.front_every):
                picked[job.id] = (job, place)

    def _ripen(self) -> None:
        """Move jobs whose place has halved since they were told into the due queue."""
        departures = self.line.departures
        heap = self._milestones
        while heap and heap[0][0] <= departures:
            _, _, job_id, version = heapq.heappop(heap)
            told = self._told.get(job_id)
            if told is None or told.version != version:
                continue  # left the line, or told again since
            place = self.line.place(job_id)
            if place is None:
                self._told.pop(job_id, None)
                continue
            target = told.place // 2
            if place <= target:
                if job_id not in self._due_set:
                    self._due_set.add(job_id)
                    self._due.append(job_id)
            else:  # others joined ahead: look again once enough more have left
                at = departures + place - target
                heapq.heappush(heap, (at, version, job_id, version))
