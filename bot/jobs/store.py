"""Reading and writing job rows. State changes are conditional, so races lose cleanly."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from bot.credits import to_thousandths
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


def _placeholders(start: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


class JobStore:
    """Job rows on either backend."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, job: Job, *, conn: Connection | None = None) -> None:
        """Write a new job row (inside `conn`'s transaction when given)."""
        record = job.to_record()
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
        **fields: Any,
    ) -> Job | None:
        """Change fields of a job, only if it is in one of `expect`; return the new row or None.

        The state check and the write are one statement, so of two racing changes (a cancel
        and a delivery, say) exactly one wins and the loser sees None.
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
        row = await (conn or self.db).fetchrow(sql + " RETURNING *", *args)
        return None if row is None else Job.from_record(row)

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
            "SELECT * FROM jobs WHERE state IN ($1, $2) AND task_id IS NOT NULL"
            " AND (kie_state IS NULL OR kie_state NOT IN ('success', 'fail'))"
            " AND finished_at >= $3",
            JobState.CANCELLED.value,
            JobState.FAILED.value,
            since,
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
