"""The one retry rule of the kie.ai client.

Reads (recordInfo, chat/credit, common/download-url) change nothing on kie's side, so they are
retried on 429, 455, any 5xx (except 501 "generation failed" and 505 "feature disabled",
which will not change on a retry), timeouts and connection errors.

createTask makes a task that costs money, so it is retried ONLY when the answer proves that no
task was made:

- 429 rate limited: kie rejects, it does not queue;
- 455 maintenance;
- a clean 5xx answer: kie answered with a JSON error envelope (code 500 in the body or the
  HTTP status), so it handled the request and made no task;
- the connection could not be opened at all, so nothing was sent.

A createTask whose outcome is unknown (a timeout or a dropped connection after the request may
have been sent, a gateway error page, an answer the client cannot read, a success body under
an error HTTP status) is NEVER resent: it raises :class:`~bot.kie.errors.KieOutcomeUnknown`
so the caller can reconcile first. A createTask cancelled while in flight is equally unknown.

Delays: exponential backoff with full jitter, ``uniform(0, min(cap, base * 2**attempt))``,
0.5 s base, 8 s cap, at most 3 retries (4 attempts). A ``Retry-After`` of at most 60 s
replaces the computed delay; a longer one is not honoured and the error is raised.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.kie.errors import (
    KieError,
    KieMaintenance,
    KieRateLimited,
    KieServerError,
)

__all__ = ["RetryPolicy", "is_retryable_read_error"]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff numbers for the retry rule; ``rand`` returns a float in [0, 1)."""

    max_retries: int = 3
    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 60.0
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Return the sleep before retry number ``attempt`` (0-based), or None to give up."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return max(0.0, retry_after)
        return self.rand() * min(self.cap, self.base * 2**attempt)


def is_retryable_read_error(exc: KieError) -> bool:
    """Return True when a read that failed with this kie error is worth sending again."""
    # 501 and 505 have their own classes, so "5xx" here means KieServerError only.
    return isinstance(exc, KieRateLimited | KieMaintenance | KieServerError)
