"""The progress embed shows what is true now: place and expected start, kie's state, stages."""

from __future__ import annotations

import dataclasses

from bot.jobs.models import JobState
from bot.jobs.ports import Progress
from cogs.imagine._embeds import progress_embed
from tests.jobs.test_line import make_job


def fields(embed: object) -> dict[str, str]:
    return {f.name: f.value for f in embed.fields}  # type: ignore[attr-defined]


def test_a_waiting_job_shows_its_place_and_expected_start() -> None:
    job = dataclasses.replace(make_job(1, 0), created_at=1_700_000_000.0)
    shown = fields(progress_embed(job, Progress(queue_position=1234, starts_at=1_700_000_633.9)))
    assert shown["Status"] == "Waiting in line — place **1,234**"
    assert shown["Expected start"] == "<t:1700000633:R>"
    assert shown["Asked"] == "<t:1700000000:R>"
    behind = fields(progress_embed(job, Progress(queue_position=2, behind_own=True)))
    assert behind["Status"].endswith("(after your requests already at kie.ai)")
    assert "Expected start" not in behind


def test_kie_states_and_delivery_stages() -> None:
    job = make_job(1, 0)
    running = dataclasses.replace(job, state=JobState.RUNNING, kie_state="generating")
    shown = fields(progress_embed(running, Progress(eta=1_700_000_100.0, starts_at=5.0)))
    assert shown["Status"] == "Generating"
    assert shown["Expected"] == "<t:1700000100:R>"
    assert "Expected start" not in shown
    delivering = dataclasses.replace(job, state=JobState.DELIVERING)
    for stage, text in [
        ("downloading", "Downloading the images from kie.ai"),
        ("posting", "Posting the images"),
        (None, "Downloading and posting the images"),
    ]:
        assert fields(progress_embed(delivering, Progress(stage=stage)))["Status"] == text
