"""SQLite serves one bot process: a second one on the same file is refused at start.

Two processes on one SQLite file would each resume and submit the same jobs (leases need
PostgreSQL's row locks to share work: bot/jobs/leases.py). The first process holds an
exclusive `flock` on `<database>.lock` for as long as it runs; the kernel lets go of it when
the process ends in any way, kill -9 included, so it never goes stale.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["AlreadyRunning", "hold_sqlite_file"]


class AlreadyRunning(Exception):
    """Another process uses the SQLite database; the message says what to do."""


def hold_sqlite_file(database: Path) -> int:
    """Lock `database` for this process; return the lock's descriptor (kept open until exit).

    Raise AlreadyRunning if another process holds it.
    """
    lock_path = database.with_name(database.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(
            f"another bot process is already using {database}; SQLite serves one process "
            "(stop the other one, or use PostgreSQL to run several)"
        ) from None
    return fd
