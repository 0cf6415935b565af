"""The crash matrix for edit jobs: kill -9 the real bot while a job that starts from a picture
is under way, restart it on the same database, and check money and the picture.

Same machinery as tests/e2e/test_crash_matrix.py (its points, stand-ins and money check); each
member action here also attaches `image`, so the job goes to kie's edit model. Besides money
staying exact, every task kie made must have gone to the edit model with the member's own
picture, fetched fine: the restarted bot reads the reference from the job row (V7), it cannot
ask Discord again. One point is edit-only: the job is waiting in line (kie said "not now")
when the bot dies, so the restarted bot sends its createTask, references included, from the
stored row alone.

    .venv/bin/python -m pytest tests/e2e/test_crash_edit.py -k "in_line and polling and sqlite"
"""

from __future__ import annotations

import pytest

from imagine_standins.discord import FakeDiscord, RecordedRequest
from imagine_standins.kie import CREATE_TASK, FakeKie
from tests.e2e.subprocess_bot import Spawn, spawn_bot  # noqa: F401 - fixture
from tests.e2e.test_crash_matrix import (
    CrashDb,
    Point,
    Run,
    arm_create_received,
    arm_download,
    arm_generating,
    crash_and_restart,
    crash_db,  # noqa: F401 - fixture
    crash_kie,  # noqa: F401 - fixture
    message_body,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def arm_waiting_in_line(run: Run) -> None:
    """kie says "not now" (429) to the createTask; the job is back in line when the bot dies."""
    run.kie.force_error(CREATE_TASK, 429, retry_after=60.0)

    def shows_busy(rec: RecordedRequest) -> bool:
        # The bot writes the job back to the line before it shows "busy" to the member.
        body = message_body(rec)
        return run.is_imagine(rec) and body is not None and "busy" in str(body.get("embeds"))

    run.discord.on_request(
        shows_busy,
        when="before",
        action=run.killer("the job waits in line after kie's 429; the bot never heard more"),
    )


EDIT_POINTS = [
    Point("edit_waiting_in_line", arm_waiting_in_line, "delivered", edit=True),
    Point("edit_create_received", arm_create_received, "delivered if task known", edit=True),
    Point("edit_generating", arm_generating, "delivered", edit=True),
    Point("edit_download", arm_download, "delivered", edit=True),
]

CASES = [
    pytest.param(point, callbacks, id=f"{point.name}-{'callbacks' if callbacks else 'polling'}")
    for point in EDIT_POINTS
    for callbacks in (True, False)
]


@pytest.mark.parametrize(("point", "callbacks"), CASES)
async def test_crash_matrix_edit(
    crash_db: CrashDb,  # noqa: F811
    spawn_bot: Spawn,  # noqa: F811
    fake_discord: FakeDiscord,
    crash_kie: FakeKie,  # noqa: F811
    point: Point,
    callbacks: bool,
) -> None:
    """kill -9 an edit job at the point, restart: money exact, the same picture sent."""
    await crash_and_restart(crash_db, spawn_bot, fake_discord, crash_kie, point, callbacks)
