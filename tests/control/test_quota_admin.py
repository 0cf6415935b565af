"""Quota admin: set, clear, show and reset, each audited old → new."""

from __future__ import annotations

import pytest

from bot.control.audit import recent
from bot.control.errors import InvalidSetting, QuotaExceeded
from bot.control.quotas import QuotaBook, QuotaLimit
from bot.store.database import Database
from tests.control.helpers import (
    ADMIN,
    GUILD,
    NOW,
    OTHER_USER,
    ROLE_A,
    USER,
    reserve,
    set_limits,
)


async def test_reset_member_zeroes_current_usage(book: QuotaBook, db: Database) -> None:
    """Resetting a member frees their current period and is audited with the old figures."""
    await set_limits(book, [("default", None, 2, "day")])
    await reserve(book, 2)
    await reserve(book, 2, user=OTHER_USER)
    change = await book.reset_member(GUILD, USER, actor_id=ADMIN, now=NOW)
    assert (change.old, change.new) == ({"day": 2}, {"day": 0})
    await reserve(book, 2)
    with pytest.raises(QuotaExceeded):
        await reserve(book, 1, user=OTHER_USER)
    [entry] = [e for e in await recent(db, GUILD) if e.action == "quota.reset_member"]
    assert (entry.target, entry.old, entry.new) == (f"member:{USER}", {"day": 2}, {"day": 0})


async def test_set_clear_show_and_audit(book: QuotaBook, db: Database) -> None:
    """Admin limit changes return and audit old → new; show lists what is set."""
    first = await book.set_limit(GUILD, "role", ROLE_A, 5, "day", actor_id=ADMIN, now=NOW)
    assert (first.old, first.new) == (None, {"limit": 5, "period": "day"})
    second = await book.set_limit(GUILD, "role", ROLE_A, 20, "week", actor_id=ADMIN, now=NOW + 1)
    assert (second.old, second.new) == (
        {"limit": 5, "period": "day"},
        {"limit": 20, "period": "week"},
    )
    await book.set_limit(GUILD, "server", None, 100, "month", actor_id=ADMIN, now=NOW + 2)
    await book.set_limit(GUILD, "default", None, 3, "day", actor_id=ADMIN, now=NOW + 3)
    assert await book.show(GUILD) == [
        QuotaLimit("default", None, 3, "day"),
        QuotaLimit("role", ROLE_A, 20, "week"),
        QuotaLimit("server", None, 100, "month"),
    ]
    cleared = await book.clear_limit(GUILD, "role", ROLE_A, actor_id=ADMIN, now=NOW + 4)
    assert (cleared.old, cleared.new) == ({"limit": 20, "period": "week"}, None)
    assert len(await book.show(GUILD)) == 2
    entries = await recent(db, GUILD)
    assert [(e.action, e.target) for e in entries] == [
        ("quota.clear", f"role:{ROLE_A}"),
        ("quota.set", "default"),
        ("quota.set", "server"),
        ("quota.set", f"role:{ROLE_A}"),
        ("quota.set", f"role:{ROLE_A}"),
    ]


BAD_LIMIT_CASES = [
    ("role", ROLE_A, -1, "day"),
    ("role", ROLE_A, 5, "year"),
    ("everyone", None, 5, "day"),
]


@pytest.mark.parametrize(("kind", "target", "limit", "period"), BAD_LIMIT_CASES)
async def test_bad_limits_refused(
    book: QuotaBook, db: Database, kind, target, limit, period
) -> None:
    """A negative limit, an unknown period or kind is refused and not audited."""
    with pytest.raises(InvalidSetting):
        await book.set_limit(GUILD, kind, target, limit, period, actor_id=ADMIN, now=NOW)
    assert await book.show(GUILD) == []
    assert await recent(db, GUILD) == []
