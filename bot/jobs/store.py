"""Reading and writing job rows. State changes are conditional, so races lose cleanly.

With `leases` (bot/jobs/leases.py) the store also fences: a new row is leased to this process
in the same statement that writes it, and every `update` of a job is conditional on this
process still holding it at the epoch it took (else LeaseLost), unless the caller says the
write is one anybody may make (`fence=False`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable
from typing import Any

from bot.credits import to_thousandths
from bot.jobs.leases import LeaseLost, Leases
from bot.jobs.models import UNFINISHED, Job, JobState
from bot.store.database import Connection, Database

__all__ = ["JobStore"]

# The columns update() may set: every column of the jobs table except the id. update() also
# takes Job's credits_consumed (exact credits) and stores it as credits_consumed_milli.
_COLUMNS = frozenset(
    [
        "callback_token",
        "guild_id",
        "channel_id",
        "user_id",
        "state",
        "kie_state",
        "task_id",
        "prompt",
        "image_size",
        "resolution",
        "images",
        "seed",
        "safety",
        "reference_images",
        "spoiler",
        "parent_job_id",
        "application_id",
        "interaction_id",
        "interaction_token",
        "interaction_created_at",
        "attachment_size_limit",
        "locale",
        "guild_locale",
        "created_at",
        "updated_at",
        "submitted_at",
        "kie_finished_at",
        "finished_at",
        "result_urls",
        "parts_delivered",
        "delivered_via",
        "images_delivered",
        "credits_consumed_milli",
        "cost_time",
        "fail_code",
        "fail_message",
        "delivery_plan",
    ]
)


@functools.cache
def _placeholders(start: int, count: int) -> str:
    # Cached: a few (start, count) pairs recur, one of them for every job written.
    return ", ".join(f"${i}" for i in range(start, start + count))


# Ended jobs whose kie task may still run on and be billed: followed to record the cost.
_FOLLOWED = (
    "state IN ('cancelled', 'failed') AND task_id IS NOT NULL"
    " AND (kie_state IS NULL OR kie_state NOT IN ('success', 'fail'))"
)
_UNFINISHED_SQL = "state IN (" + ", ".join(f"'{s.value}'" for s in sorted(UNFINISHED)) + ")"


class JobStore:
    """Job rows on either backend."""

    def __init__(self, db: Database, *, leases: Leases | None = None) -> None:
        self.db = db
        # None: no fencing (tools and tests that play another actor); the engine gives one.
        self.leases = leases

    async def insert(self, job: Job, *, conn: Connection | None = None) -> None:
        """Write a new job row (inside `conn`'s transaction when given), leased to us."""
        record = job.to_record()
        if self.leases is not None:
            record |= {
                "lease_owner": self.leases.owner,
                "lease_expires_at": self.leases.expires(),
                "lease_epoch": 1,
            }
            self.leases.hold(job.id, 1)
        columns = ", ".join(record)
        await (conn or self.db).execute(
            f"INSERT INTO jobs ({columns}) VALUES ({_placeholders(1, len(record))})",
            *record.values(),
        )

    async def get(self, job_id: str) -> Job | None:
        """Return the job with this id."""
        return await self._one("id", job_id)

    async def by_callback_token(self, token: str) -> Job | None:
        """Return the job whose callback URL carries `token`."""
        return await self._one("callback_token", token)

    async def by_task_id(self, task_id: str) -> Job | None:
        """Return the job kie knows as `task_id`."""
        return await self._one("task_id", task_id)

    async def _one(self, column: str, value: Any) -> Job | None:
        row = await self.db.fetchrow(f"SELECT * FROM jobs WHERE {column} = $1", value)
        return None if row is None else Job.from_record(row)

    async def update(
        self,
        job_id: str,
        *,
        expect: Collection[JobState] | None = None,
        conn: Connection | None = None,
        fence: bool = True,
        only_if_no_task: bool = False,
        **fields: Any,
    ) -> Job | None:
        """Change fields of a job, only if it is in one of `expect`; return the new row or None.

        The state check and the write are one statement, so of two racing changes (a cancel
        and a delivery, say) exactly one wins and the loser sees None. With leases and
        `fence`, the write also needs this process to hold the job: else LeaseLost.
        `only_if_no_task`: only while the row knows no kie task id.
        """
        fields = dict(_credits_column(k, v) for k, v in fields.items())
        fields = {k: _encode(k, v) for k, v in fields.items()}
        assigns = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
        sql = f"UPDATE jobs SET {assigns} WHERE id = $1"
        args: list[Any] = [job_id, *fields.values()]
        if expect is not None:
            states = [s.value for s in expect]
            sql += f" AND state IN ({_placeholders(len(args) + 1, len(states))})"
            args += states
        if only_if_no_task:
            sql += " AND task_id IS NULL"
        leases = self.leases if fence else None
        if leases is not None:
            epoch = leases.epoch(job_id)
            if epoch is None:
                # Not ours (any more): nothing to write, unless it has simply ended.
                await self._refused(job_id, leases, conn)
                return None
            sql += f" AND lease_owner = ${len(args) + 1} AND lease_epoch = ${len(args) + 2}"
            args += [leases.owner, epoch]
        row = await (conn or self.db).fetchrow(sql + " RETURNING *", *args)
        if row is None and leases is not None:
            await self._refused(job_id, leases, conn)
        return None if row is None else Job.from_record(row)

    async def _refused(self, job_id: str, leases: Leases, conn: Connection | None) -> None:
        """Say why a fenced write matched no row: LeaseLost if another process drives the
        job now; else (the state check lost, or the job has ended) return quietly."""
        row = await (conn or self.db).fetchrow(
            "SELECT state, lease_owner, lease_epoch FROM jobs WHERE id = $1", job_id
        )
        if row is None or JobState(row["state"]).finished:
            return  # an ended job is nobody's to drive: a state race lost, as without leases
        if row["lease_owner"] != leases.owner or int(row["lease_epoch"]) != leases.epoch(job_id):
            leases.drop(job_id)
            raise LeaseLost(job_id)

    # -- leases ----------------------------------------------------------------------------

    async def take_leases(
        self, *, follow_since: float, own: bool = False, limit: int = 500
    ) -> list[Job]:
        """Take unfinished jobs nobody holds (and, with `own`, our instance's; on SQLite every
        one); return them, oldest first, now held at a new epoch.

        Jobs that ended since `follow_since` whose task's cost is still followed are taken
        the same way (kie bills a cancelled task that runs on).
        """
        leases = self.leases
        assert leases is not None
        args: list[Any] = [leases.owner, leases.expires(), limit, follow_since]
        if leases.exclusive:
            # The only process: at start every job is ours; later, rows written without
            # a lease (by a tool) or by an earlier run.
            free = "TRUE" if own else "(lease_owner IS NULL OR lease_owner <> $1)"
        else:
            free = "(lease_owner IS NULL OR lease_expires_at < $5"
            free += " OR lease_owner = $1)" if own else ")"
            args.append(leases.clock())
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        rows = await self.db.fetch(
            "UPDATE jobs SET lease_owner = $1, lease_expires_at = $2,"
            " lease_epoch = lease_epoch + 1"
            " WHERE id IN (SELECT id FROM jobs"
            f" WHERE ({_UNFINISHED_SQL} OR ({_FOLLOWED} AND finished_at >= $4)) AND {free}"
            f" ORDER BY created_at, id LIMIT $3{lock})"
            " RETURNING *",
            *args,
        )
        rows.sort(key=lambda r: (r["created_at"], r["id"]))
        for row in rows:
            leases.hold(row["id"], int(row["lease_epoch"]))
        return [Job.from_record(r) for r in rows]

    async def claim(self, job_id: str) -> Job | None:
        """Take one job if nobody holds it (or on SQLite); None if another process does."""
        leases = self.leases
        assert leases is not None
        args: list[Any] = [leases.owner, leases.expires(), job_id]
        free = "TRUE"
        if not leases.exclusive:
            free = "(lease_owner IS NULL OR lease_expires_at < $4)"
            args.append(leases.clock())
        row = await self.db.fetchrow(
            "UPDATE jobs SET lease_owner = $1, lease_expires_at = $2,"
            f" lease_epoch = lease_epoch + 1 WHERE id = $3 AND {free} RETURNING *",
            *args,
        )
        if row is None:
            return None
        leases.hold(job_id, int(row["lease_epoch"]))
        return Job.from_record(row)

    async def renew_leases(self) -> set[str]:
        """Renew every lease this process holds; return the held jobs another process took.

        A held job missing from the renewal either ended with nothing left to follow
        (anybody may cancel a job): forgotten quietly, or was taken over: lost.
        """
        leases = self.leases
        assert leases is not None
        rows = await self.db.fetch(
            "UPDATE jobs SET lease_expires_at = $2 WHERE lease_owner = $1"
            f" AND ({_UNFINISHED_SQL} OR ({_FOLLOWED})) RETURNING id, lease_epoch",
            leases.owner,
            leases.expires(),
        )
        renewed = {r["id"]: int(r["lease_epoch"]) for r in rows}
        lost: set[str] = set()
        for job_id, epoch in leases.held().items():
            if renewed.get(job_id) == epoch:
                continue
            leases.drop(job_id)
            if job_id not in renewed:
                row = await self.db.fetchrow(
                    "SELECT state, lease_owner, lease_epoch FROM jobs WHERE id = $1", job_id
                )
                if row is None or (
                    row["lease_owner"] == leases.owner and int(row["lease_epoch"]) == epoch
                ):
                    continue  # ended (or gone): nothing of it left to drive
            lost.add(job_id)
        return lost

    async def release_leases(self) -> None:
        """Let every lease we hold run out now (this process stops driving its jobs)."""
        leases = self.leases
        assert leases is not None
        await self.db.execute(
            "UPDATE jobs SET lease_expires_at = 0 WHERE lease_owner = $1", leases.owner
        )
        for job_id in leases.held():
            leases.drop(job_id)

    async def lease_of(self, job_id: str) -> tuple[str | None, int]:
        """Return who holds the job and at which epoch (for tests and diagnostics)."""
        row = await self.db.fetchrow(
            "SELECT lease_owner, lease_epoch FROM jobs WHERE id = $1", job_id
        )
        return (None, 0) if row is None else (row["lease_owner"], int(row["lease_epoch"]))

    async def unfinished(self) -> list[Job]:
        """Return every job that has not reached a final state, oldest first."""
        return await self._in_states(UNFINISHED)

    async def _in_states(self, states: Iterable[JobState]) -> list[Job]:
        values = [s.value for s in states]
        rows = await self.db.fetch(
            f"SELECT * FROM jobs WHERE state IN ({_placeholders(1, len(values))})"
            " ORDER BY created_at, id",
            *values,
        )
        return [Job.from_record(r) for r in rows]

    async def costs_to_follow(self, since: float) -> list[Job]:
        """Return ended jobs whose kie task may still run on and be billed (cancelled, say)."""
        rows = await self.db.fetch(
            f"SELECT * FROM jobs WHERE {_FOLLOWED} AND finished_at >= $1", since
        )
        return [Job.from_record(r) for r in rows]

    async def in_flight(self, guild_id: int, user_id: int) -> list[Job]:
        """Return the member's unfinished jobs in this server."""
        values = [s.value for s in UNFINISHED]
        rows = await self.db.fetch(
            "SELECT * FROM jobs WHERE guild_id = $1 AND user_id = $2"
            f" AND state IN ({_placeholders(3, len(values))}) ORDER BY created_at",
            guild_id,
            user_id,
            *values,
        )
        return [Job.from_record(r) for r in rows]

    async def states_held(
        self, guild_id: int, user_id: int, *, conn: Connection | None = None
    ) -> dict[JobState, int]:
        """Return how many of the member's unfinished jobs in this server are in each state."""
        values = [s.value for s in UNFINISHED]
        rows = await (conn or self.db).fetch(
            "SELECT state, COUNT(*) AS n FROM jobs WHERE guild_id = $1 AND user_id = $2"
            f" AND state IN ({_placeholders(3, len(values))}) GROUP BY state",
            guild_id,
            user_id,
            *values,
        )
        return {JobState(row["state"]): int(row["n"]) for row in rows}

    async def recent_durations(
        self, *, size: str, resolution: str, images: int, limit: int = 20
    ) -> list[float]:
        """Return how long kie took (submit to finish) for recent jobs of this shape."""
        rows = await self.db.fetch(
            "SELECT cost_time AS took FROM jobs"
            " WHERE image_size = $1 AND resolution = $2 AND images = $3"
            " AND cost_time IS NOT NULL"
            " ORDER BY kie_finished_at DESC LIMIT $4",
            size,
            resolution,
            images,
            limit,
        )
        return [float(r["took"]) for r in rows]


def _credits_column(name: str, value: Any) -> tuple[str, Any]:
    """Store credits_consumed (exact credits) as credits_consumed_milli (whole thousandths)."""
    if name != "credits_consumed":
        return name, value
    return "credits_consumed_milli", None if value is None else to_thousandths(value)


def _encode(name: str, value: Any) -> Any:
    if name not in _COLUMNS:
        raise ValueError(f"jobs has no column {name!r}")
    if isinstance(value, JobState):
        return value.value
    if name == "result_urls" and value is not None:
        return json.dumps(list(value))
    if name == "delivery_plan" and value is not None:
        return json.dumps([list(part) for part in value])
    if isinstance(value, bool):
        return int(value)
    return value
