"""A fair queue: members take turns, so one member's burst never starves the others."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque

__all__ = ["FairQueue"]


class FairQueue:
    """Round-robin across members; first come, first served within a member."""

    def __init__(self) -> None:
        # Members in turn order; each holds its own FIFO of job ids.
        self._members: OrderedDict[int, deque[str]] = OrderedDict()
        self._ready = asyncio.Condition()

    def __len__(self) -> int:
        return sum(len(q) for q in self._members.values())

    def __contains__(self, job_id: object) -> bool:
        return any(job_id in q for q in self._members.values())

    async def put(self, member_id: int, job_id: str) -> None:
        """Add a job at the back of its member's line."""
        async with self._ready:
            self._members.setdefault(member_id, deque()).append(job_id)
            self._ready.notify()

    async def put_front(self, member_id: int, job_id: str) -> None:
        """Put a job back at the front of its member's line (it keeps its place)."""
        async with self._ready:
            jobs = self._members.setdefault(member_id, deque())
            jobs.appendleft(job_id)
            self._members.move_to_end(member_id, last=False)
            self._ready.notify()

    async def get(self) -> str:
        """Wait for and take the next job: the front job of the member whose turn it is."""
        async with self._ready:
            await self._ready.wait_for(lambda: bool(self._members))
            member_id, jobs = next(iter(self._members.items()))
            job_id = jobs.popleft()
            # The member goes to the back of the turn order (or leaves if done).
            del self._members[member_id]
            if jobs:
                self._members[member_id] = jobs
            return job_id

    def remove(self, job_id: str) -> bool:
        """Take a job out of the queue (e.g. cancelled); return whether it was there."""
        for member_id, jobs in self._members.items():
            if job_id in jobs:
                jobs.remove(job_id)
                if not jobs:
                    del self._members[member_id]
                return True
        return False

    def position(self, job_id: str) -> int | None:
        """Return the job's 1-based place in the order jobs will be taken, or None."""
        order = self.order()
        return order.index(job_id) + 1 if job_id in order else None

    def order(self) -> list[str]:
        """Return every queued job id in the order they will be taken."""
        lines = [list(q) for q in self._members.values()]
        out: list[str] = []
        for depth in range(max((len(line) for line in lines), default=0)):
            out.extend(line[depth] for line in lines if depth < len(line))
        return out
