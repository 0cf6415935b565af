"""The usage command's chart: drawn on a worker thread, members named when Discord says who."""

from __future__ import annotations

import asyncio
import logging
import threading
from decimal import Decimal
from typing import Any
from unittest.mock import create_autospec

import aiohttp
import discord
import pytest

from bot.control import MemberUsage, UsageReport
from bot.control.usage import DayUsage
from bot.imagine_bot import ImagineBot
from cogs.admin import ImagineAdmin, _cog
from tests.cogs.helpers import fake_interaction

DAY = 1_741_737_600  # 2025-03-12 00:00 UTC


def _report(*user_ids: int) -> UsageReport:
    members = tuple(MemberUsage(u, 1, Decimal(5)) for u in user_ids)
    return UsageReport(
        guild_id=1,
        period="day",
        start=DAY,
        end=DAY + 86_400,
        images=len(members),
        credits=Decimal(5 * len(members)),
        jobs=len(members),
        failed_jobs=0,
        top_members=members,
        days=(DayUsage(DAY, len(members), Decimal(5 * len(members)), (1,) * len(members)),),
    )


def _member(name: str) -> Any:
    member = create_autospec(discord.Member, instance=True, spec_set=True)
    member.display_name = name
    return member


def _interaction(cached: dict[int, str], fetched: dict[int, Any]) -> Any:
    """A command in a guild whose cache holds `cached`; fetch_member answers from `fetched`."""
    interaction = fake_interaction(command=None)
    guild = create_autospec(discord.Guild, instance=True, spec_set=True)
    guild.get_member.side_effect = lambda user_id: (
        _member(cached[user_id]) if user_id in cached else None
    )

    async def fetch_member(user_id: int) -> Any:
        answer = fetched[user_id]
        if isinstance(answer, BaseException):
            raise answer
        if answer == "slow":
            await asyncio.sleep(30)
        return _member(answer)

    guild.fetch_member.side_effect = fetch_member
    interaction.guild = guild
    return interaction


def _not_found() -> discord.NotFound:
    response = create_autospec(aiohttp.ClientResponse, instance=True, spec_set=True)
    response.status, response.reason = 404, "Not Found"
    return discord.NotFound(response, {"code": 10007, "message": "Unknown Member"})


async def test_names_come_from_the_cache_then_from_discord() -> None:
    """Cached members cost no request; the others are fetched; unknown ones stay unnamed."""
    interaction = _interaction({1: "Alice"}, {2: "Bob", 3: _not_found()})
    names = await _cog._display_names(interaction, _report(1, 2, 3))
    assert names == {1: "Alice", 2: "Bob"}
    fetched = [call.args[0] for call in interaction.guild.fetch_member.call_args_list]
    assert sorted(fetched) == [2, 3]


async def test_a_slow_discord_leaves_members_labelled_by_rank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Names not given within NAMES_TIMEOUT are left out; the chart labels those by rank."""
    monkeypatch.setattr(_cog, "NAMES_TIMEOUT", 0.05)
    interaction = _interaction({}, {1: "Alice", 2: "slow"})
    names = await asyncio.wait_for(_cog._display_names(interaction, _report(1, 2)), 5)
    assert names == {1: "Alice"}


async def test_the_chart_is_drawn_on_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The render never runs on the event loop's thread, and gets the names found."""
    seen: list[tuple[int, Any]] = []

    def render(report: UsageReport, names: Any, lang: Any = None) -> bytes:
        seen.append((threading.get_ident(), names))
        return b"\x89PNG fake"

    monkeypatch.setattr(_cog, "render_usage_chart", render)
    cog = ImagineAdmin(create_autospec(ImagineBot, instance=True))
    chart = await cog._chart(_interaction({1: "Alice"}, {}), _report(1))
    assert chart == b"\x89PNG fake"
    [(thread, names)] = seen
    assert thread != threading.get_ident()
    assert names == {1: "Alice"}


async def test_a_chart_that_fails_to_draw_leaves_the_figures(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A render error is logged and gives no chart; the caller still sends the embed."""

    def render(report: UsageReport, names: Any, lang: Any = None) -> bytes:
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(_cog, "render_usage_chart", render)
    cog = ImagineAdmin(create_autospec(ImagineBot, instance=True))
    with caplog.at_level(logging.ERROR, logger=_cog.__name__):
        assert await cog._chart(_interaction({1: "Alice"}, {}), _report(1)) is None
    assert "could not draw the usage chart" in caplog.text
