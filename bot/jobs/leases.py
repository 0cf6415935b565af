"""Which process owns which job: leases with fencing, so two processes never drive one job.

Each unfinished job row names its owner (`lease_owner`), when the owner's claim runs out
(`lease_expires_at`, unless renewed) and how many times it has been taken (`lease_epoch`).
A process takes jobs nobody holds (new ones, or ones whose owner stopped renewing) with
`SELECT … FOR UPDATE SKIP LOCKED` (bot/jobs/store.py), renews its own every third of the
lease, and makes every write to a job it drives conditional on the owner and epoch it took:
a process that paused past its lease and was replaced finds its next write matching no row,
gets `LeaseLost`, and stops driving that job without another write or post.

The owner is the process's *instance*, a name stable across its restarts (host and web port:
the address kie's callbacks reach), so a process restarted after kill -9 takes its own jobs
back at once instead of waiting for their leases to run out; taking them bumps the epoch, so
even a twin of the old process still running could write nothing. On SQLite there is only
one process (bot/store/single_process.py refuses a second), so it takes every job at start
whoever owned it.

Writes that any process may make whoever owns the job are the few that are safe from anyone:
a member's cancel (conditional on the job's state, like every end) and the task id a kie
callback names for a job whose createTask answer never came (written only while none is
known). bot/jobs/engine.py tells the owner through the Notifier.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable

__all__ = ["DEFAULT_LEASE_SECONDS", "LeaseLost", "Leases", "instance_name"]

# SPEC "Several processes": JOB_LEASE_SECONDS, 30 by default.
DEFAULT_LEASE_SECONDS = 30.0


class LeaseLost(Exception):
    """Another process took the job over: stop driving it, write and post nothing more."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job={job_id}: another process holds it now")
        self.job_id = job_id


def instance_name(web_port: int | None) -> str:
    """Return this process's instance: host and web port, the same after a restart.

    Without a fixed port (None or 0: any free port) two processes of one host could share
    the name, so the process id stands in: unique, though not kept across a restart.
    """
    host = socket.gethostname() or "host"
    return f"{host}:{web_port}" if web_port else f"{host}:pid{os.getpid()}"


class Leases:
    """The jobs this process holds (job id → the epoch it took), and the lease's terms."""

    def __init__(
        self,
        owner: str,
        *,
        seconds: float = DEFAULT_LEASE_SECONDS,
        exclusive: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if seconds <= 0:
            raise ValueError("a lease must last some seconds")
        self.owner = owner
        self.seconds = seconds
        # The only process on its database (SQLite): every job is its own.
        self.exclusive = exclusive
        self.clock = clock
        self._epochs: dict[str, int] = {}

    @classmethod
    def single_process(cls, seconds: float = DEFAULT_LEASE_SECONDS) -> Leases:
        """Return the leases of the only process on its database."""
        return cls(f"single:{uuid.uuid4().hex[:12]}", seconds=seconds, exclusive=True)

    def __repr__(self) -> str:
        """Show the owner and how many jobs it holds."""
        return f"Leases(owner={self.owner!r}, held={len(self._epochs)})"

    def __len__(self) -> int:
        """Return how many jobs this process holds."""
        return len(self._epochs)

    def __contains__(self, job_id: object) -> bool:
        """Return whether this process holds the job."""
        return job_id in self._epochs

    def epoch(self, job_id: str) -> int | None:
        """Return the epoch this process holds the job at, or None if it does not hold it."""
        return self._epochs.get(job_id)

    def hold(self, job_id: str, epoch: int) -> None:
        """Record that this process took the job at `epoch`."""
        self._epochs[job_id] = epoch

    def drop(self, job_id: str) -> None:
        """Forget the job (it ended, or was lost)."""
        self._epochs.pop(job_id, None)

    def held(self) -> dict[str, int]:
        """Return a copy of every held job's epoch."""
        return dict(self._epochs)

    def expires(self) -> float:
        """Return when a lease taken or renewed now runs out."""
        return self.clock() + self.seconds

    @property
    def renew_every(self) -> float:
        """Return how often held leases are renewed (and the scan for dead owners runs)."""
        return self.seconds / 3
