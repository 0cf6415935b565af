"""The one retry rule of the kie.ai client: a pure verdict on each failed attempt.

:func:`verdict` looks the failure up in two tables (docs/kie-api.md §9 explains each row) and
says whether to send again, give up with the error, give up with the error as "not now", or
give up with :class:`~bot.kie.errors.KieOutcomeUnknown`. It does no I/O; the client's one send
loop acts on it.

Reads change nothing on kie's side, so they are retried on anything that may pass. createTask
makes a task that costs money, so it is retried only when the failure proves no task was made
(the connection never opened). An answer that cannot prove either way (a timeout, any 500) is
"outcome unknown": never resent, reconciled later. A 429 or 455 proves nothing was made but
says "not now": the client raises it at once and the caller, which owns the job's place in
line, decides when to come back.

Delays: exponential backoff with full jitter, ``uniform(0, min(cap, base * 2**attempt))``,
0.5 s base, 8 s cap, at most 3 retries (4 attempts). On a read, a 429's ``Retry-After`` of at
most 60 s replaces the computed delay; a longer one is not honoured and the error is raised.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.kie.errors import (
    KieError,
    KieNotNow,
    KieRateLimited,
    KieServerError,
    KieUnexpectedResponse,
    Origin,
)

__all__ = [
    "Action",
    "Call",
    "RetryPolicy",
    "Said",
    "Transport",
    "Verdict",
    "said",
    "verdict",
]


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


class Call(enum.Enum):
    """Which kind of request failed."""

    READ = "read"  # recordInfo, chat/credit, download-url: change nothing at kie
    CREATE = "create"  # createTask: makes a task that costs money


class Transport(enum.Enum):
    """A failure before any answer was read; the member says whether the request may have left."""

    BAD_URL = "bad url"  # aiohttp refused the URL: nothing left, and never will
    NOT_CONNECTED = "not connected"  # the connection never opened: nothing left
    NO_ANSWER = "no answer"  # timed out or dropped: the request may have left


class Said(enum.Enum):
    """What an error answer's code says, in the terms the retry rule needs."""

    NOT_NOW = "not now"  # 429 rate limited or 455 maintenance: rejected, not queued
    SERVER_ERROR = "server error"  # 500, or a 5xx with no class of its own (502, 503, 504…)
    FAILED = "failed"  # 408, 501, 505 or another 5xx page: a retry will not change it
    REFUSED = "refused"  # any other code: the request itself is refused
    UNREADABLE = "unreadable"  # not a kie envelope, or the wrong shape


class Action(enum.Enum):
    """What the send loop does next."""

    RETRY = "retry"  # sleep Verdict.delay, then send again
    FINAL = "final"  # raise the error as it is
    NOT_NOW = "not now"  # raise the KieNotNow as it is, at once: nothing was made, come back later
    OUTCOME_UNKNOWN = "outcome unknown"  # raise KieOutcomeUnknown; never resend


@dataclass(frozen=True)
class Verdict:
    """The retry rule's answer for one failed attempt."""

    action: Action
    delay: float = 0.0


class Rule(NamedTuple):
    """The action for one kind of answer, by where its code came from (see Origin)."""

    body: Action
    status: Action
    conflict: Action

    def by(self, origin: Origin) -> Action:
        """Return the action for an answer of this origin."""
        if origin is Origin.STATUS:
            return self.status
        if origin is Origin.CONFLICT:
            return self.conflict
        return self.body


RETRY, FINAL, LATER, UNKNOWN = Action.RETRY, Action.FINAL, Action.NOT_NOW, Action.OUTCOME_UNKNOWN

# Rows: the call and what the code says; columns: where the code came from (docs/kie-api.md §2).
# Reads ignore the origin. For createTask, kie's own envelope means kie handled the request; a
# bare 5xx or 408 page says nothing about what happened behind the gateway (a bare 4xx is an
# edge refusal made before kie); a success body under an error status may hide a task. kie
# also answers 500 to requests it refused as invalid (docs/kie-api.md §10), so even its own 500
# envelope does not prove that no task was made. createTask is never retried on an answer.
_ANSWERS: dict[tuple[Call, Said], Rule] = {
    (Call.READ, Said.NOT_NOW): Rule(body=RETRY, status=RETRY, conflict=RETRY),
    (Call.READ, Said.SERVER_ERROR): Rule(body=RETRY, status=RETRY, conflict=RETRY),
    (Call.READ, Said.FAILED): Rule(body=FINAL, status=FINAL, conflict=FINAL),
    (Call.READ, Said.REFUSED): Rule(body=FINAL, status=FINAL, conflict=FINAL),
    (Call.READ, Said.UNREADABLE): Rule(body=FINAL, status=FINAL, conflict=FINAL),
    (Call.CREATE, Said.NOT_NOW): Rule(body=LATER, status=LATER, conflict=UNKNOWN),
    (Call.CREATE, Said.SERVER_ERROR): Rule(body=UNKNOWN, status=UNKNOWN, conflict=UNKNOWN),
    (Call.CREATE, Said.FAILED): Rule(body=FINAL, status=UNKNOWN, conflict=UNKNOWN),
    (Call.CREATE, Said.REFUSED): Rule(body=FINAL, status=FINAL, conflict=UNKNOWN),
    (Call.CREATE, Said.UNREADABLE): Rule(body=UNKNOWN, status=UNKNOWN, conflict=UNKNOWN),
}

_TRANSPORT: dict[tuple[Call, Transport], Action] = {
    (Call.READ, Transport.BAD_URL): FINAL,
    (Call.READ, Transport.NOT_CONNECTED): RETRY,
    (Call.READ, Transport.NO_ANSWER): RETRY,
    (Call.CREATE, Transport.BAD_URL): FINAL,
    (Call.CREATE, Transport.NOT_CONNECTED): RETRY,
    (Call.CREATE, Transport.NO_ANSWER): UNKNOWN,
}


def said(error: KieError) -> Said:
    """Sort a kie error into the row of the table that decides it."""
    if isinstance(error, KieUnexpectedResponse):
        return Said.UNREADABLE
    if isinstance(error, KieNotNow):
        return Said.NOT_NOW
    if isinstance(error, KieServerError):
        return Said.SERVER_ERROR
    if error.code is not None and (error.code >= 500 or error.code == 408):
        return Said.FAILED
    return Said.REFUSED


def verdict(
    call: Call,
    failure: KieError | Transport,
    *,
    attempt: int,
    retry_after: float | None = None,
    policy: RetryPolicy = RetryPolicy(),
) -> Verdict:
    """Judge attempt number ``attempt`` (0-based) that failed with ``failure``."""
    if isinstance(failure, Transport):
        action = _TRANSPORT[call, failure]
    else:
        action = _ANSWERS[call, said(failure)].by(failure.origin)
    if action is not Action.RETRY:
        return Verdict(action)
    # Only a 429 says when to come back; other answers' Retry-After headers are ignored.
    wait = retry_after if isinstance(failure, KieRateLimited) else None
    delay = policy.delay(attempt, wait)
    if delay is None:
        return Verdict(Action.FINAL)
    return Verdict(Action.RETRY, delay)
