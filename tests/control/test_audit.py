"""Audit trail: rows for every admin change, committed with the change."""

from __future__ import annotations

import pytest

from bot.control.audit import recent, record
from bot.control.blocklist import BlocklistStore
from bot.control.channels import ChannelSettingsStore
from bot.control.quotas import QuotaBook
from bot.store.database import Database
from tests.control.helpers import ADMIN, GUILD

NOW = 1_750_000_000.0


async def test_record_and_recent_round_trip(db: Database) -> None:
    """Old and new values come back as they went in, newest first, per guild, limited."""
    values = [None, 3, "text", {"limit": 5, "period": "day"}, [1, 2]]
    for i, value in enumerate(values):
        await record(
            db,
            guild_id=GUILD,
            actor_id=ADMIN,
            action="test",
            target=f"t{i}",
            old=value,
            new=values[-1 - i],
            now=NOW + i,
        )
    await record(db, guild_id=GUILD + 1, actor_id=1, action="x", target="y", old=0, new=1, now=NOW)
    entries = await recent(db, GUILD, limit=10)
    assert [e.target for e in entries] == ["t4", "t3", "t2", "t1", "t0"]
    assert [e.old for e in reversed(entries)] == values
    assert [e.new for e in entries] == values
    assert len(await recent(db, GUILD, limit=2)) == 2


async def test_audit_rolls_back_with_its_change(db: Database) -> None:
    """An audit row written in a transaction that fails is rolled back with it."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await record(
                tx, guild_id=GUILD, actor_id=ADMIN, action="a", target="t", old=1, new=2, now=NOW
            )
            raise RuntimeError("the change failed")
    assert await recent(db, GUILD) == []


async def test_every_admin_change_is_audited(
    db: Database,
    channels: ChannelSettingsStore,
    book: QuotaBook,
    blocklist: BlocklistStore,
) -> None:
    """Each admin write method leaves exactly one audit row naming the actor."""
    writes = [
        channels.set_mode(GUILD, "allowlist", actor_id=ADMIN, now=NOW),
        channels.enable(GUILD, 1, actor_id=ADMIN, now=NOW),
        channels.disable(GUILD, 2, actor_id=ADMIN, now=NOW),
        channels.set(GUILD, 1, actor_id=ADMIN, now=NOW, images=2),
        book.set_limit(GUILD, "member", 5, 3, "day", actor_id=ADMIN, now=NOW),
        book.clear_limit(GUILD, "member", 5, actor_id=ADMIN, now=NOW),
        book.reset_member(GUILD, 5, actor_id=ADMIN, now=NOW),
        blocklist.add(GUILD, "word", actor_id=ADMIN, now=NOW),
        blocklist.remove(GUILD, "word", actor_id=ADMIN, now=NOW),
    ]
    for write in writes:
        await write
    entries = await recent(db, GUILD, limit=100)
    assert sorted(e.action for e in entries) == sorted(
        [
            "mode.set",
            "channel.enable",
            "channel.disable",
            "channel.set",
            "quota.set",
            "quota.clear",
            "quota.reset_member",
            "blocklist.add",
            "blocklist.remove",
        ]
    )
    assert {e.actor_id for e in entries} == {ADMIN}
