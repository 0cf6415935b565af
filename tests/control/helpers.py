"""Shared constants and helpers for the admin-control tests."""

from __future__ import annotations

from datetime import UTC, datetime

GUILD = 1000
ADMIN = 9


def ts(text: str) -> float:
    """Return the Unix time of a UTC 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
