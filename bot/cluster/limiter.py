"""Rate limits that hold for all the bot's processes together (kie.ai's, Discord's).

Two ways to take room in a bucket, on either limiter:

- `acquire(bucket, n)`: n requests about to be sent now (Discord's 50 per second).
- `slot(bucket)`: one request held while it is in flight, counted from when it *finished*
  (kie counts arrivals, which the client cannot see; bot/kie/limiter.py explains).

`LocalLimiter` (SQLite: one process) is bot/kie/limiter.py's in-process sliding window, one per
bucket. `SharedLimiter` (PostgreSQL) keeps every grant as a row of `rate_grants` that occupies
its bucket until `frees_at` (the database's clock, so hosts need not agree on the time):

- a grant by `acquire` frees `validity + window + margin` after it was made, and its tokens
  are handed out in this process only for `validity` seconds: any request sent on it is
  sent within `validity` of the grant, so every sliding window around that request still
  counts it. Grants come in blocks (up to `block` tokens, as many as are waiting), so at
  Discord's 50/s a process makes a handful of round trips a second, not 50;
- a grant by `slot` frees `hold` seconds after it was made (longer than any request lasts),
  moved to `window + margin` after the request ends: an in-flight request keeps its room,
  and one whose process died frees it by itself.

A grant is one transaction on the bucket's `rate_buckets` row (`SELECT … FOR UPDATE`, so
processes take turns per bucket): drop what has freed, sum what remains, insert the grant if
it fits. When the bucket is full the caller sleeps until the first grant frees (or `poll`
seconds when that is an in-flight request's hold, which may end any moment).
bench/scale_out_bench.py measures a grant's cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.kie.limiter import CREATE_TASK_LIMIT, READ_LIMIT, RateLimit, SlidingWindowLimiter
from bot.store.database import Database

__all__ = [
    "BUCKETS",
    "DISCORD_LIMIT",
    "Limiter",
    "LocalLimiter",
    "SharedLimiter",
    "SharedWindow",
]

# Discord: 50 requests per second per bot, across all its processes (its global limit).
DISCORD_LIMIT = RateLimit(max_calls=50, window=1.0, margin=0.02)
BUCKETS: Mapping[str, RateLimit] = {
    "kie.createTask": CREATE_TASK_LIMIT,
    # recordInfo, credits and download-url share kie's 10 per second per key.
    "kie.recordInfo": READ_LIMIT,
    "discord": DISCORD_LIMIT,
}


class Limiter(Protocol):
    """Room in named buckets, for this process or for all of them."""

    async def acquire(self, bucket: str, n: int = 1) -> None:
        """Wait until `n` requests may be sent now."""
        ...

    def slot(self, bucket: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold room for one request while it is in flight; it counts from when it ends."""
        ...


class LocalLimiter:
    """One process's limits (SQLite): bot/kie/limiter.py's sliding window per bucket."""

    def __init__(self, limits: Mapping[str, RateLimit] = BUCKETS) -> None:
        self.windows = {
            name: SlidingWindowLimiter(limit, name=name) for name, limit in limits.items()
        }

    async def acquire(self, bucket: str, n: int = 1) -> None:
        """Take `n` slots, each counted from now."""
        window = self.windows[bucket]
        for _ in range(n):
            await window.acquire()
            window.release()

    def slot(self, bucket: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold one slot of `bucket` while the block runs."""
        return self.windows[bucket].slot()


_NOW = "extract(epoch from clock_timestamp())::double precision"


@dataclass
class _Tokens:
    """Tokens of this process's grants, usable until `until` (monotonic)."""

    left: int = 0
    until: float = 0.0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class SharedLimiter:
    """Limits shared by every process on one PostgreSQL database (see the module doc)."""

    def __init__(
        self,
        db: Database,
        limits: Mapping[str, RateLimit] = BUCKETS,
        *,
        block: int = 5,
        validity: float = 0.1,
        hold: float = 60.0,
        poll: float = 0.05,
    ) -> None:
        self.db = db
        self.limits = dict(limits)
        self.block = block
        self.validity = validity
        self.hold = hold
        self.poll = poll
        self._tokens = {name: _Tokens() for name in limits}
        self._known: set[str] = set()
        # Transactions made, and how many of them granted (for the benchmark).
        self.round_trips = 0
        self.grants = 0

    async def acquire(self, bucket: str, n: int = 1) -> None:
        """Wait until `n` requests of `bucket` may be sent now, by all processes together."""
        limit = self.limits[bucket]
        if not 1 <= n <= limit.max_calls:
            raise ValueError(f"{bucket}: cannot take {n} at once (limit {limit.max_calls})")
        tokens = self._tokens[bucket]
        loop = asyncio.get_running_loop()
        tokens.waiting += n
        try:
            async with tokens.turn:  # first come, first served in this process
                while not (tokens.left >= n and loop.time() < tokens.until):
                    want = min(max(n, tokens.waiting, self.block), limit.max_calls)
                    span = self.validity + limit.window + limit.margin
                    granted = await self._grant(bucket, want, span)
                    if granted is None:
                        continue
                    tokens.left, tokens.until = want, loop.time() + self.validity
                tokens.left -= n
        finally:
            tokens.waiting -= n

    @contextlib.asynccontextmanager
    async def slot(self, bucket: str) -> AsyncIterator[None]:
        """Hold one request's room in `bucket` while the block runs; it frees a window later."""
        limit = self.limits[bucket]
        grant = None
        while grant is None:
            grant = await self._grant(bucket, 1, self.hold)
        try:
            yield
        finally:
            # Shielded: a cancelled request must still move its grant's end, or it would
            # hold the room for `hold` seconds.
            await asyncio.shield(self._release(grant, limit.window + limit.margin))

    async def _grant(self, bucket: str, tokens: int, lasts: float) -> str | None:
        """Insert a grant of `tokens` freeing `lasts` seconds from now, or sleep and say None."""
        if bucket not in self._known:
            await self.db.execute(
                "INSERT INTO rate_buckets (bucket) VALUES ($1) ON CONFLICT DO NOTHING", bucket
            )
            self._known.add(bucket)
        limit = self.limits[bucket]
        grant = uuid.uuid4().hex
        async with self.db.transaction() as tx:
            self.round_trips += 1
            now = await tx.fetchval(
                f"SELECT {_NOW} FROM rate_buckets WHERE bucket = $1 FOR UPDATE", bucket
            )
            row = await tx.fetchrow(
                "WITH freed AS (DELETE FROM rate_grants WHERE bucket = $1 AND frees_at <= $2)"
                " SELECT COALESCE(SUM(tokens), 0) AS used, MIN(frees_at) AS first"
                " FROM rate_grants WHERE bucket = $1 AND frees_at > $2",
                bucket,
                now,
            )
            assert row is not None
            if int(row["used"]) + tokens <= limit.max_calls:
                await tx.execute(
                    "INSERT INTO rate_grants (id, bucket, tokens, frees_at)"
                    " VALUES ($1, $2, $3, $4)",
                    grant,
                    bucket,
                    tokens,
                    now + lasts,
                )
                self.grants += 1
                return grant
            wait = float(row["first"]) - now
        if wait > limit.window + limit.margin + self.validity:
            wait = self.poll  # an in-flight request's hold: it may end any moment
        await asyncio.sleep(max(wait, 0.001))
        return None

    async def _release(self, grant: str, lasts: float) -> None:
        with contextlib.suppress(Exception):  # the grant then frees at its `hold`: safe
            await self.db.execute(
                f"UPDATE rate_grants SET frees_at = {_NOW} + $2 WHERE id = $1", grant, lasts
            )

    def window(self, bucket: str) -> SharedWindow:
        """Return `bucket` as a window bot/kie's client can hold slots in."""
        return SharedWindow(self, bucket)


class SharedWindow:
    """One shared bucket with a window's face (bot/kie/limiter.py's `Window`).

    This process's own sliding window is held first, so its callers still queue in arrival
    order and only as many as the limit ask the database at once.
    """

    def __init__(self, shared: SharedLimiter, bucket: str) -> None:
        self.shared = shared
        self.bucket = bucket
        self.limit = shared.limits[bucket]
        self.local = SlidingWindowLimiter(self.limit, name=bucket)

    @property
    def waiting(self) -> int:
        """Return how many callers of this process wait for a slot."""
        return self.local.waiting

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot here and in the shared bucket while the request is in flight."""
        async with self.local.slot(), self.shared.slot(self.bucket):
            yield
