"""One process's Notifier and limiters, chosen by its database.

On PostgreSQL several processes may share the database: messages go by LISTEN/NOTIFY and
kie's and Discord's limits are held in the database for all of them. On SQLite there is one
process (bot/store/single_process.py), and both stay in it.
"""

from __future__ import annotations

from bot.cluster.limiter import Limiter, LocalLimiter, SharedLimiter
from bot.cluster.notify import Notifier, PostgresNotifier
from bot.kie.limiter import KieLimiter
from bot.store.database import Database

__all__ = ["cluster_for"]


def cluster_for(db: Database, database_url: str) -> tuple[Notifier, Limiter, KieLimiter]:
    """Return the process's Notifier (not started), rate limiter and kie limiter."""
    if db.dialect == "postgresql":
        shared = SharedLimiter(db)
        kie = KieLimiter(
            create=shared.window("kie.createTask"), read=shared.window("kie.recordInfo")
        )
        return PostgresNotifier(db, database_url), shared, kie
    return Notifier(), LocalLimiter(), KieLimiter()
