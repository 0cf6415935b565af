"""A job row as admission writes it, for tests that drive the engine or the store directly."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from bot.jobs.models import Job, JobOptions, JobState
from bot.kie import ImageSize, Resolution


def queued_job(**fields: Any) -> Job:
    """Return a queued one-image job (a red fox, square 1K); `fields` override any column."""
    now = time.time()
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "callback_token": secrets.token_urlsafe(16),
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 3,
        "state": JobState.QUEUED,
        "options": JobOptions(
            prompt="a red fox", size=ImageSize.SQUARE_HD, resolution=Resolution.R1K, images=1
        ),
        "created_at": now,
        "updated_at": now,
    }
    return Job(**(row | fields))
