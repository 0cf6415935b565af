"""Records the kie.ai stand-in keeps: requests, callbacks, tasks and their timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CREDITS_PER_IMAGE",
    "CallbackAttempt",
    "Durations",
    "FakeTask",
    "ForcedAnswer",
    "ManualClock",
    "RecordedRequest",
]

CREDITS_PER_IMAGE = 5


@dataclass
class RecordedRequest:
    """One request as the stand-in saw it; ``at`` is time.monotonic() on arrival."""

    endpoint: str
    method: str
    path: str
    at: float
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    #: HTTP status and body code of the answer, set once it is decided (before it is sent).
    status: int | None = None
    code: int | None = None
    counted: bool = False
    #: The task the request made (createTask), asked about (recordInfo) or served (file).
    task_id: str | None = None


@dataclass
class CallbackAttempt:
    """One POST of a callback to a task's callBackUrl."""

    task_id: str
    url: str
    attempt: int
    body: dict[str, Any]
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None
    #: time.time() just before the POST was sent.
    sent_at: float | None = None


@dataclass(frozen=True)
class Durations:
    """Seconds a task spends waiting, queuing and generating."""

    waiting: float = 0.05
    queuing: float = 0.05
    generating: float = 0.1

    @property
    def total(self) -> float:
        """Return the time from creation to the terminal state."""
        return self.waiting + self.queuing + self.generating


@dataclass(frozen=True)
class ForcedAnswer:
    """A canned answer for the next call of an endpoint; ``raw_body`` skips the envelope."""

    code: int
    msg: str = ""
    http_status: int | None = None
    raw_body: str | None = None
    content_type: str = "application/json"
    retry_after: float | None = None


@dataclass
class FakeTask:
    """A task the stand-in made."""

    task_id: str
    body: dict[str, Any]
    created_at: float
    durations: Durations
    fail: tuple[str, str] | None
    image_count: int
    large: bool
    settled: bool = False
    file_names: list[str] = field(default_factory=list)
    credits_consumed: int = 0
    #: An edit task fetching its image_urls: it waits until they are in (fetch.py).
    fetching: bool = False
    #: What each image_urls entry gave when the task started (fetch.FetchedImage).
    fetched: list[Any] = field(default_factory=list)

    @property
    def input(self) -> dict[str, Any]:
        """Return the createTask ``input`` object."""
        return self.body["input"]

    @property
    def callback_url(self) -> str | None:
        """Return the task's callBackUrl, if it has one."""
        return self.body.get("callBackUrl")

    @property
    def reserved(self) -> int:
        """Return the credits held for the task until it finishes."""
        return CREDITS_PER_IMAGE * int(self.input.get("max_images", 1))

    @property
    def terminal_at(self) -> float:
        """Return the clock time at which the task finishes."""
        return self.created_at + self.durations.total

    def state(self, now: float) -> str:
        """Return the task's state at clock time ``now``."""
        d = self.durations
        age = now - self.created_at
        if age < d.waiting or self.fetching:
            return "waiting"
        if age < d.waiting + d.queuing:
            return "queuing"
        if age < d.total:
            return "generating"
        return "fail" if self.fail else "success"

    def state_started(self, now: float) -> float:
        """Return the clock time at which the current state began."""
        d = self.durations
        starts = {
            "waiting": 0.0,
            "queuing": d.waiting,
            "generating": d.waiting + d.queuing,
        }
        return self.created_at + starts.get(self.state(now), d.total)


class ManualClock:
    """A clock that only moves when told to, for stepping tasks through their states."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds
