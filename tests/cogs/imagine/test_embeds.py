"""The result embed shows what kie charged exactly: 5.5 or 0.8, never 5.500000001."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.jobs.models import Job, JobOptions, JobState
from bot.jobs.ports import ResultPart
from bot.kie import ImageSize, Resolution
from cogs.imagine._embeds import result_embed


def _job(credits: Decimal | None) -> Job:
    return Job(
        id="0" * 32,
        callback_token="token",
        guild_id=1,
        channel_id=2,
        user_id=3,
        state=JobState.DELIVERING,
        options=JobOptions("a fox", ImageSize.SQUARE_HD, Resolution.R1K, 1),
        created_at=0.0,
        updated_at=0.0,
        credits_consumed=credits,
    )


PART = ResultPart(index=0, count=1, attachments=(), originals={})


@pytest.mark.parametrize(
    ("credits", "shown"),
    [
        (Decimal("5.5"), "5.5"),
        (Decimal("0.8"), "0.8"),
        (Decimal("10"), "10"),
        (Decimal("4.000"), "4"),
        (Decimal("0.001"), "0.001"),
        (Decimal("0"), "0"),
    ],
)
def test_result_embed_shows_credits_exactly(credits: Decimal, shown: str) -> None:
    """The Credits field is the exact amount, without trailing zeros or an exponent."""
    fields = {f.name: f.value for f in result_embed(_job(credits), PART, took=None).fields}
    assert fields["Credits"] == shown


def test_result_embed_leaves_out_unknown_credits() -> None:
    """A job kie has not billed yet shows no Credits field at all."""
    fields = {f.name for f in result_embed(_job(None), PART, took=None).fields}
    assert "Credits" not in fields
