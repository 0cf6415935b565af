"""One handle on every admin-controlled store, built once per process around the database."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cluster.notify import Notifier
from bot.control.blocklist import BlocklistStore
from bot.control.channels import ChannelSettingsStore
from bot.control.quotas import QuotaBook
from bot.store.database import Database

__all__ = ["Control"]


@dataclass(frozen=True, slots=True)
class Control:
    """The stores behind /imagine-admin, /quota and /imagine's checks (caches live here)."""

    db: Database
    channels: ChannelSettingsStore
    quotas: QuotaBook
    blocklist: BlocklistStore

    @classmethod
    def for_database(cls, db: Database, *, notifier: Notifier | None = None) -> Control:
        """Build every store on `db` (no I/O); with `notifier`, caches follow other processes."""
        return cls(
            db=db,
            channels=ChannelSettingsStore(db, notifier=notifier),
            quotas=QuotaBook(db),
            blocklist=BlocklistStore(db, notifier=notifier),
        )
