"""A local stand-in for kie.ai's Market jobs API; ``python -m tests.fakes.kie`` runs it alone."""

from tests.fakes.kie.records import FakeTask
from tests.fakes.kie.rules import webhook_signature
from tests.fakes.kie.server import (
    CREATE_TASK,
    CREDIT,
    DOWNLOAD_URL,
    RECORD_INFO,
    Durations,
    FakeKie,
    ManualClock,
)

__all__ = [
    "CREATE_TASK",
    "CREDIT",
    "DOWNLOAD_URL",
    "RECORD_INFO",
    "Durations",
    "FakeKie",
    "FakeTask",
    "ManualClock",
    "webhook_signature",
]
