"""Shared constants and helpers for the admin-control tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from bot.control.quotas import QuotaBook, QuotaFigure, Reservation
from bot.store.database import Connection

GUILD = 1000
ADMIN = 9
CHANNEL = 2000
OTHER_CHANNEL = 2001
USER = 3000
OTHER_USER = 3001
ROLE_A = 4000
ROLE_B = 4001


def ts(text: str) -> float:
    """Return the Unix time of a UTC 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


NOW = ts("2025-03-12 12:00:00")  # a Wednesday
END_OF_DAY = ts("2025-03-13 00:00:00")

_job_ids = itertools.count()


async def reserve(
    book: QuotaBook,
    images: int = 1,
    *,
    user: int = USER,
    channel: int = CHANNEL,
    roles: tuple[int, ...] = (),
    now: float = NOW,
    job_id: str | None = None,
    conn: Connection | None = None,
) -> Reservation:
    """Reserve with test defaults and a fresh job id."""
    return await book.reserve(
        job_id=job_id or f"job-{next(_job_ids)}",
        guild_id=GUILD,
        channel_id=channel,
        user_id=user,
        role_ids=roles,
        images=images,
        now=now,
        conn=conn,
    )


async def set_limits(book: QuotaBook, limits: list[tuple[str, int | None, int, str]]) -> None:
    """Set (kind, target, limit, period) limits."""
    for kind, target, limit, period in limits:
        await book.set_limit(GUILD, kind, target, limit, period, actor_id=ADMIN, now=NOW)


def member_figure(figures: list[QuotaFigure]) -> QuotaFigure | None:
    """Return the member-scope figure, if any."""
    return next((f for f in figures if f.scope == "member"), None)


async def used_by_scope(book: QuotaBook, now: float = NOW) -> dict[str, int]:
    """Return what USER's request in CHANNEL finds used, per applicable scope."""
    return {f.scope: f.used for f in await book.status(GUILD, CHANNEL, USER, (), now)}
