"""Fixtures for the kie.ai client tests: a stand-in, a session and a fast client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bot.kie import KieClient, KieLimiter, RetryPolicy
from imagine_standins.kie import FakeKie


class SleepRecorder:
    """An injectable sleep that records delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        """Record the delay instead of waiting."""
        self.delays.append(delay)


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    """Run a default stand-in for one test."""
    async with FakeKie() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """Open one HTTP session for one test."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def sleeps() -> SleepRecorder:
    """Return the recorder used as the client's sleep."""
    return SleepRecorder()


@pytest.fixture
def make_client(session: aiohttp.ClientSession, sleeps: SleepRecorder) -> Callable[..., KieClient]:
    """Return a factory for clients pointed at a stand-in, with instant retries."""

    def factory(fake: FakeKie, **overrides: Any) -> KieClient:
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "api_key": fake.api_key,
            "limiter": KieLimiter(),
            "request_timeout": 5.0,
            "retry": RetryPolicy(rand=lambda: 0.5),
            "sleep": sleeps,
        }
        options.update(overrides)
        return KieClient(session, **options)

    return factory


@pytest.fixture
def client(kie: FakeKie, make_client: Callable[..., KieClient]) -> KieClient:
    """Return a client for the default stand-in."""
    return make_client(kie)
