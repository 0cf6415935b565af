"""A local stand-in for kie.ai's Market jobs API; ``python -m tests.fakes.kie`` runs it alone."""

from tests.fakes.kie.images import read_stamp
from tests.fakes.kie.records import CallbackAttempt, FakeTask, RecordedRequest
from tests.fakes.kie.rules import webhook_signature
from tests.fakes.kie.server import (
    CALLBACK,
    CREATE_TASK,
    CREDIT,
    DOWNLOAD_URL,
    FILE,
    RECORD_INFO,
    Durations,
    FakeKie,
    ManualClock,
)

__all__ = [
    "CALLBACK",
    "CREATE_TASK",
    "CREDIT",
    "DOWNLOAD_URL",
    "FILE",
    "RECORD_INFO",
    "CallbackAttempt",
    "Durations",
    "FakeKie",
    "FakeTask",
    "ManualClock",
    "RecordedRequest",
    "read_stamp",
    "webhook_signature",
]
