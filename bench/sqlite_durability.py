"""Benchmark what `synchronous=FULL` costs SQLite commits against `NORMAL` (WAL mode).

Runs small write transactions, each the size of one job-state update, through the real
`SqliteDatabase` on a file in a temporary directory (on the disk of the working directory
unless `--dir` says otherwise) and prints the commit rate and latency for each setting.
Nothing is asserted about time.

    python -m bench.sqlite_durability [--commits N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.store.database import SqliteDatabase


async def _run(path: Path, synchronous: str, commits: int) -> list[float]:
    db = await SqliteDatabase.open(str(path))
    try:
        # The database opens with FULL; put the setting under test in its place.
        await db.execute(f"PRAGMA synchronous={synchronous}")
        await db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT, updated REAL)")
        await db.execute("INSERT INTO jobs (id, state, updated) VALUES (1, 'queued', 0)")
        latencies = []
        for n in range(commits):
            started = time.perf_counter()
            async with db.transaction() as tx:
                await tx.execute(
                    "UPDATE jobs SET state = $1, updated = $2 WHERE id = 1", f"s{n}", started
                )
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        await db.close()


async def main(commits: int, directory: str | None) -> None:
    """Print commit latency and rate for NORMAL and FULL."""
    with tempfile.TemporaryDirectory(dir=directory or ".") as tmp:
        print(f"{commits} write transactions each, database in {tmp}")
        for synchronous in ("NORMAL", "FULL"):
            latencies = await _run(Path(tmp) / f"{synchronous}.db", synchronous, commits)
            ms = sorted(1000 * x for x in latencies)
            print(
                f"synchronous={synchronous:6}  {commits / sum(latencies):8.0f} commits/s  "
                f"median {statistics.median(ms):6.3f} ms  p99 {ms[int(len(ms) * 0.99) - 1]:6.3f} ms"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="where to put the database files")
    args = parser.parse_args()
    asyncio.run(main(args.commits, args.dir))
