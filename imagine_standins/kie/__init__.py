"""A local stand-in for kie.ai's Market jobs API; run alone: ``python -m imagine_standins.kie``."""

from imagine_standins.kie.images import read_stamp
from imagine_standins.kie.records import CallbackAttempt, FakeTask, RecordedRequest
from imagine_standins.kie.rules import webhook_signature
from imagine_standins.kie.server import (
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
