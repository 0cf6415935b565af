"""Image quotas: limits per member, role, channel and server, reserved atomically per job.

`rules` decides which limits apply (pure), `buckets` keeps the usage counters, `ledger`
reserves, settles and refunds a job's images, and `admin` changes limits with an audit row.
QuotaBook is the ledger and the admin side on one database, as `Control.quotas`.
"""

from __future__ import annotations

from bot.control.errors import QuotaExceeded
from bot.control.quotas.admin import LimitAdmin
from bot.control.quotas.ledger import Ledger, Reservation
from bot.control.quotas.rules import (
    MAX_LIMIT,
    Bucket,
    LimitKind,
    QuotaFigure,
    QuotaLimit,
    Scope,
    most_generous,
)

__all__ = [
    "MAX_LIMIT",
    "Bucket",
    "Ledger",
    "LimitAdmin",
    "LimitKind",
    "QuotaBook",
    "QuotaExceeded",
    "QuotaFigure",
    "QuotaLimit",
    "Reservation",
    "Scope",
    "most_generous",
]


class QuotaBook(Ledger, LimitAdmin):
    """Quota limits, usage and per-job reservations in the database."""
