"""The engine's knobs, with the production values as defaults (tests shorten them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.jobs.polling import DEFAULT_EXPECTED, GIVE_UP_AFTER

__all__ = ["EngineConfig"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Knobs of the engine; defaults are the production values."""

    callback_base_url: str | None = None
    # A member's jobs at kie at once (MAX_JOBS_PER_MEMBER); more wait in line.
    max_jobs_per_member: int = 2
    submit_workers: int = 4
    give_up_after: float = GIVE_UP_AFTER
    delivery_attempts: int = 3
    # kie's maintenance (455) ends a waiting job only after this long, with a refund; a 429
    # never does.
    maintenance_give_up: float = 30 * 60.0
    # Reading a task that a callback names: tries, first pause (doubling) between them.
    confirm_attempts: int = 5
    confirm_backoff: float = 1.0
    # Expected kie durations by resolution, used until recent jobs tell us better.
    default_expected: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EXPECTED))
