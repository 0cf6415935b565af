"""The job: one /imagine request from the member's command to its delivered images."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.credits import from_thousandths, to_thousandths
from bot.jobs import references
from bot.jobs.references import Reference
from bot.kie import ImageSize, Resolution

__all__ = ["INTERACTION_LIFETIME", "UNFINISHED", "InteractionRef", "Job", "JobOptions", "JobState"]

# How long Discord lets an interaction's token be used for followups and edits.
INTERACTION_LIFETIME = 15 * 60.0


class JobState(StrEnum):
    """Where a job is. Each change is written to the database before it takes effect."""

    QUEUED = "queued"  # in our fair queue; nothing sent to kie yet
    SUBMITTING = "submitting"  # createTask sent; its outcome not yet known
    RUNNING = "running"  # kie has the task (kie_state says waiting/queuing/generating)
    DELIVERING = "delivering"  # kie finished; images being downloaded and posted
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Return whether nothing more will happen to the job."""
        return self not in UNFINISHED


UNFINISHED = frozenset(
    {JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING}
)


@dataclass(frozen=True, slots=True)
class JobOptions:
    """What the member asked for."""

    prompt: str
    size: ImageSize
    resolution: Resolution
    images: int
    seed: int | None = None
    safety: bool = True
    # Pictures to start from (bot/jobs/references.py): with any, kie's edit model runs.
    references: tuple[Reference, ...] = ()

    @property
    def is_edit(self) -> bool:
        """Return whether the job starts from reference images."""
        return bool(self.references)


@dataclass(frozen=True, slots=True)
class InteractionRef:
    """Enough of the Discord interaction to answer it later, even after a restart."""

    application_id: int
    interaction_id: int
    token: str = field(repr=False)
    created_at: float
    attachment_size_limit: int
    # Discord's locales ("zh-CN", "en-US"): the member's, for replies through the
    # interaction, and the server's preferred one, for channel messages (bot/i18n).
    locale: str | None = None
    guild_locale: str | None = None

    def expires_at(self, lifetime: float) -> float:
        """Return when the interaction token stops working."""
        return self.created_at + lifetime


@dataclass(frozen=True, slots=True)
class Job:
    """A row of the jobs table."""

    id: str
    callback_token: str = field(repr=False)
    guild_id: int
    channel_id: int
    user_id: int
    state: JobState
    options: JobOptions
    created_at: float
    updated_at: float
    kie_state: str | None = None
    task_id: str | None = None
    spoiler: bool = False
    parent_job_id: str | None = None
    interaction: InteractionRef | None = None
    submitted_at: float | None = None
    kie_finished_at: float | None = None
    finished_at: float | None = None
    result_urls: tuple[str, ...] = ()
    parts_delivered: int = 0
    delivered_via: str | None = None
    images_delivered: int | None = None
    # Exact: kie charges fractions. Stored as whole thousandths (credits_consumed_milli).
    credits_consumed: Decimal | None = None
    cost_time: float | None = None
    fail_code: str | None = None
    fail_message: str | None = None
    # Which result images each message carries (0-based indexes into result_urls), fixed
    # when the delivery starts.
    delivery_plan: tuple[tuple[int, ...], ...] | None = None

    @property
    def ctx(self) -> str:
        """Return the ids every log line about this job carries (never the prompt)."""
        return (
            f"job={self.id} guild={self.guild_id} channel={self.channel_id}"
            f" task={self.task_id or '-'}"
        )

    @classmethod
    def from_record(cls, row: dict[str, Any]) -> Job:
        """Build a Job from a jobs row."""
        interaction = None
        if row["interaction_token"]:
            interaction = InteractionRef(
                application_id=int(row["application_id"]),
                interaction_id=int(row["interaction_id"]),
                token=row["interaction_token"],
                created_at=float(row["interaction_created_at"]),
                attachment_size_limit=int(row["attachment_size_limit"]),
                locale=row["locale"],
                guild_locale=row["guild_locale"],
            )
        return cls(
            id=row["id"],
            callback_token=row["callback_token"],
            guild_id=int(row["guild_id"]),
            channel_id=int(row["channel_id"]),
            user_id=int(row["user_id"]),
            state=JobState(row["state"]),
            options=JobOptions(
                prompt=row["prompt"],
                size=ImageSize(row["image_size"]),
                resolution=Resolution(row["resolution"]),
                images=int(row["images"]),
                seed=None if row["seed"] is None else int(row["seed"]),
                safety=bool(row["safety"]),
                references=references.decode(row["reference_images"]),
            ),
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
            kie_state=row["kie_state"],
            task_id=row["task_id"],
            spoiler=bool(row["spoiler"]),
            parent_job_id=row["parent_job_id"],
            interaction=interaction,
            submitted_at=row["submitted_at"],
            kie_finished_at=row["kie_finished_at"],
            finished_at=row["finished_at"],
            result_urls=tuple(json.loads(row["result_urls"])) if row["result_urls"] else (),
            parts_delivered=int(row["parts_delivered"]),
            delivered_via=row["delivered_via"],
            images_delivered=row["images_delivered"],
            credits_consumed=_credits(row["credits_consumed_milli"]),
            cost_time=row["cost_time"],
            fail_code=row["fail_code"],
            fail_message=row["fail_message"],
            delivery_plan=(
                tuple(tuple(part) for part in json.loads(row["delivery_plan"]))
                if row["delivery_plan"]
                else None
            ),
        )

    def to_record(self) -> dict[str, Any]:
        """Return the jobs row for this Job."""
        ref = self.interaction
        return {
            "id": self.id,
            "callback_token": self.callback_token,
            "guild_id": self.guild_id,
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "state": self.state.value,
            "kie_state": self.kie_state,
            "task_id": self.task_id,
            "prompt": self.options.prompt,
            "image_size": self.options.size.value,
            "resolution": self.options.resolution.value,
            "images": self.options.images,
            "seed": self.options.seed,
            "safety": int(self.options.safety),
            "reference_images": references.encode(self.options.references),
            "spoiler": int(self.spoiler),
            "parent_job_id": self.parent_job_id,
            "application_id": ref.application_id if ref else None,
            "interaction_id": ref.interaction_id if ref else None,
            "interaction_token": ref.token if ref else None,
            "interaction_created_at": ref.created_at if ref else None,
            "attachment_size_limit": ref.attachment_size_limit if ref else None,
            "locale": ref.locale if ref else None,
            "guild_locale": ref.guild_locale if ref else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.submitted_at,
            "kie_finished_at": self.kie_finished_at,
            "finished_at": self.finished_at,
            "result_urls": json.dumps(list(self.result_urls)) if self.result_urls else None,
            "parts_delivered": self.parts_delivered,
            "delivered_via": self.delivered_via,
            "images_delivered": self.images_delivered,
            "credits_consumed_milli": (
                None if self.credits_consumed is None else to_thousandths(self.credits_consumed)
            ),
            "cost_time": self.cost_time,
            "fail_code": self.fail_code,
            "fail_message": self.fail_message,
            "delivery_plan": (
                json.dumps([list(p) for p in self.delivery_plan]) if self.delivery_plan else None
            ),
        }


def _credits(thousandths: Any) -> Decimal | None:
    return None if thousandths is None else from_thousandths(int(thousandths))
