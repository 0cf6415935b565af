"""Which quota limits apply to a request, and which usage bucket each one counts in (no I/O).

A request for N images needs N free in every limit that applies:

- the member's limit: their member override, else the most generous of their roles' limits,
  else the server default;
- the channel total, and the server total.

No limit set means unlimited; a limit of 0 means not allowed. Each limit counts images per
calendar period in UTC (day; week from Monday; month).

Roles are compared by images per day, each period taken at its nominal length (a week is 7
days, a month 30.44): 50 a week (7.1/day) beats 5 a day. When the rates are equal the longer
period wins, because it lets a member spend the same images in a burst.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from bot.control.periods import Period, nominal_days, period_end, period_start

__all__ = [
    "LIMIT_KINDS",
    "MAX_LIMIT",
    "SCOPES",
    "TARGETED",
    "Applicable",
    "Bucket",
    "LimitKind",
    "QuotaFigure",
    "QuotaLimit",
    "Scope",
    "applicable",
    "most_generous",
]

LimitKind = Literal["default", "role", "member", "channel", "server"]
LIMIT_KINDS: tuple[LimitKind, ...] = get_args(LimitKind)
Scope = Literal["member", "channel", "server"]
# Also the order buckets are locked in, so concurrent reservations can't deadlock.
SCOPES: tuple[Scope, ...] = get_args(Scope)
# The kinds that name a role, member or channel; default and server name nothing.
TARGETED: frozenset[str] = frozenset({"role", "member", "channel"})
# The most images one limit may allow per period (/imagine-admin offers the same range).
MAX_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """One limit an admin set: `limit` images per `period`."""

    kind: LimitKind
    target_id: int | None  # the role, member or channel; None for default and server
    limit: int
    period: Period

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QuotaLimit:
        """Build the limit from a `quota_limits` row (target_id 0 stands for none)."""
        kind = row["scope"]
        return cls(
            kind=kind,
            target_id=int(row["target_id"]) if kind in TARGETED else None,
            limit=int(row["limit_images"]),
            period=row["period"],
        )

    @property
    def per_day(self) -> float:
        """Return the limit as images per nominal day, to compare limits of other periods."""
        return self.limit / nominal_days(self.period)

    def to_dict(self) -> dict[str, Any]:
        """Return the limit's value for the audit trail."""
        return {"limit": self.limit, "period": self.period}


@dataclass(frozen=True, slots=True)
class QuotaFigure:
    """Where one applicable limit stands now, for /quota."""

    scope: Scope
    source: LimitKind  # for scope member: which limit applies (member, role or default)
    limit: int
    period: Period
    used: int
    remaining: int
    resets_at: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """One usage counter: a scope's images in one calendar period."""

    scope: Scope
    target_id: int
    period: Period
    period_start: int


@dataclass(frozen=True, slots=True)
class Applicable:
    """A limit that applies to a request, and whose usage (member, channel, server) it counts."""

    scope: Scope
    target_id: int
    limit: QuotaLimit

    def bucket(self, now: float) -> Bucket:
        """Return the bucket this limit counts in at `now`."""
        period = self.limit.period
        return Bucket(self.scope, self.target_id, period, period_start(period, now))

    def figure(self, used: int, now: float) -> QuotaFigure:
        """Return where this limit stands with `used` images counted in its current bucket."""
        limit = self.limit
        return QuotaFigure(
            scope=self.scope,
            source=limit.kind,
            limit=limit.limit,
            period=limit.period,
            used=used,
            remaining=max(limit.limit - used, 0),
            resets_at=period_end(limit.period, now),
        )


def most_generous(limits: Iterable[QuotaLimit]) -> QuotaLimit | None:
    """Return the limit allowing the most images per day (longer period on a tie), or None."""
    return max(limits, key=lambda q: (q.per_day, nominal_days(q.period)), default=None)


def applicable(
    limits: Sequence[QuotaLimit], *, user_id: int, channel_id: int, role_ids: Iterable[int]
) -> list[Applicable]:
    """Return the limits that apply to this request, in bucket-locking order."""

    def find(kind: str, target_id: int | None = None) -> QuotaLimit | None:
        return next((q for q in limits if q.kind == kind and q.target_id == target_id), None)

    roles = set(role_ids)
    member = (
        find("member", user_id)
        or most_generous(q for q in limits if q.kind == "role" and q.target_id in roles)
        or find("default")
    )
    found = [
        Applicable("member", user_id, member) if member else None,
        Applicable("channel", channel_id, q) if (q := find("channel", channel_id)) else None,
        Applicable("server", 0, q) if (q := find("server")) else None,
    ]
    return [a for a in found if a is not None]
