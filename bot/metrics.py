"""Prometheus metrics (GET /metrics). No discord import: the web handler feeds the gauges.

Counters move as things happen; gauges that describe the present (jobs by state, queue
length, Discord latency) are read when scraped, so they are exact after a restart too.

Credits are counted in whole thousandths of a credit. A Prometheus counter is a float64:
adding 0.1 a thousand times to it gives 99.9999999999986, but whole numbers add exactly (up
to 2**53, some nine billion credits), in this process and when Prometheus sums the processes.
Divide by 1000 to read credits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal

from prometheus_client import Counter, Gauge

from bot.credits import to_thousandths

__all__ = [
    "CREDITS_CONSUMED",
    "DELIVERY_BYTES",
    "DISCORD_LATENCY",
    "EVENT_LOOP_LAG",
    "JOBS_BY_STATE",
    "JOB_TRANSITIONS",
    "KIE_REQUESTS",
    "QUEUE_LENGTH",
    "CreditsCounter",
    "measure_loop_lag",
    "observe_kie",
]

JOB_TRANSITIONS = Counter("imagine_job_transitions_total", "Jobs entering each state", ["state"])
JOBS_BY_STATE = Gauge("imagine_jobs", "Jobs in the database by state", ["state"])
KIE_REQUESTS = Counter(
    "imagine_kie_requests_total",
    "kie.ai API answers by endpoint and kie code (the body code, else the HTTP status)",
    ["endpoint", "code"],
)


class CreditsCounter:
    """A counter fed with exact credits that counts whole thousandths of a credit."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def inc(self, credits: Decimal | int | float) -> None:
        """Count what kie charged (a float is read as its shortest text, so 0.8 is 800)."""
        self.counter.inc(to_thousandths(credits))


CREDITS_CONSUMED = CreditsCounter(
    Counter(
        "imagine_kie_millicredits_consumed_total",
        "kie.ai credits consumed by finished tasks, in thousandths of a credit (whole numbers,"
        " so the sum stays exact; divide by 1000 for credits)",
    )
)
DELIVERY_BYTES = Counter("imagine_delivery_bytes_total", "Bytes of images uploaded to Discord")
QUEUE_LENGTH = Gauge("imagine_queue_length", "Jobs waiting in the fair queue")
EVENT_LOOP_LAG = Gauge("imagine_event_loop_lag_seconds", "How late a 0.5 s timer last fired")
DISCORD_LATENCY = Gauge(
    "imagine_discord_latency_seconds", "Gateway heartbeat latency (NaN when disconnected)"
)


def observe_kie(endpoint: str, code: int) -> None:
    """Count one kie.ai answer."""
    KIE_REQUESTS.labels(endpoint=endpoint, code=str(code)).inc()


async def measure_loop_lag(interval: float = 0.5) -> None:
    """Keep EVENT_LOOP_LAG current until cancelled: a blocked loop shows up here first."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            start = time.perf_counter()
            await asyncio.sleep(interval)
            EVENT_LOOP_LAG.set(max(0.0, time.perf_counter() - start - interval))
