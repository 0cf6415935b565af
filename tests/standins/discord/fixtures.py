"""Pytest fixtures for the Discord stand-in; import them into a conftest (or a test module).

    from tests.standins.discord.fixtures import discord_error_guard, fake_discord

``discord_error_guard`` is autouse wherever it is imported: it fails the test when anything
under the ``discord`` logger logged at ERROR during setup or the test call. discord.py does
not raise exceptions from commands, views and modals; it only logs them, so without this guard
a test passes while the bot failed. (In fixture teardown ``caplog.records`` holds only the
teardown records, hence ``caplog.get_records("setup")`` and ``("call")``.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from imagine_standins.discord.server import FakeDiscord, point_discord_py_at


class DiscordErrorGuard:
    """Collects the ``discord.*`` ERROR records a test is allowed to produce."""

    def __init__(self) -> None:
        self.allowed: list[str] = []

    def allow(self, substring: str) -> None:
        """Let ERROR records whose message (or exception text) contains ``substring`` pass."""
        self.allowed.append(substring)

    def offending(self, records: list[logging.LogRecord]) -> list[logging.LogRecord]:
        """Return the ERROR records from ``discord.*`` that were not allowed."""
        bad = []
        for record in records:
            if record.levelno < logging.ERROR or not (
                record.name == "discord" or record.name.startswith("discord.")
            ):
                continue
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" {record.exc_info[1]!r}"
            if not any(s in text for s in self.allowed):
                bad.append(record)
        return bad


@pytest.fixture(autouse=True)
def discord_error_guard(caplog: pytest.LogCaptureFixture) -> Iterator[DiscordErrorGuard]:
    """Fail the test on any ERROR logged by ``discord.*`` (call ``.allow(text)`` to permit)."""
    guard = DiscordErrorGuard()
    yield guard
    records = caplog.get_records("setup") + caplog.get_records("call")
    bad = guard.offending(records)
    if bad:
        lines = []
        for record in bad:
            line = f"{record.name}: {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                line += f" ({record.exc_info[1]!r})"
            lines.append(line)
        pytest.fail("discord.py logged errors:\n" + "\n".join(lines), pytrace=False)


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """Start a FakeDiscord, point discord.py and the bot's environment variables at it."""
    async with FakeDiscord() as fake:
        monkeypatch.setenv("DISCORD_API_BASE_URL", fake.api_base_url)
        monkeypatch.setenv("DISCORD_GATEWAY_URL", fake.gateway_url)
        with point_discord_py_at(fake):
            yield fake
        assert fake.errors == [], f"the Discord stand-in crashed: {fake.errors!r}"
