"""bot.heap: what exists once the bot is built is left out of later collections."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_settle_heap_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    kept = [object()]  # something alive now, which later collections need not walk
    tracked_before = len(gc.get_objects())
    settle_heap()
    assert gc.get_freeze_count() >= tracked_before // 2
    assert not any(o is kept for o in gc.get_objects())  # frozen: no generation holds it
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    fresh = [object()]
    assert any(o is fresh for o in gc.get_objects())  # what comes later is collected as usual
