"""bot.tree.reply_to_error: the one private error reply for commands, buttons and modals."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import create_autospec

import aiohttp
import discord
import pytest
from discord import app_commands

from bot.errors import UserFacingError
from bot.i18n import _
from bot.tree import GENERIC_FAILURE, ImagineTree, reply_to_error
from tests.cogs.helpers import fake_interaction


@app_commands.command(name="imagine", description="Draw something")
async def imagine(interaction: discord.Interaction[Any]) -> None:
    """Stand in for a real command (only its name is used)."""


def _invoke_error(cause: Exception) -> app_commands.CommandInvokeError:
    return app_commands.CommandInvokeError(imagine, cause)


MISSING_MANAGE_GUILD = app_commands.MissingPermissions(["manage_guild"])

REPLY_CASES: list[tuple[str, BaseException, str]] = [
    ("user-facing", UserFacingError(_("That request no longer exists.")), "That request no"),
    ("wrapped user-facing", _invoke_error(UserFacingError(_("No credits."))), "No credits."),
    ("missing permission", MISSING_MANAGE_GUILD, "You need the Manage Guild permission"),
    ("no DMs", app_commands.NoPrivateMessage(), "only works in a server"),
    ("other check", app_commands.CheckFailure(), "You can't use this command here."),
    ("plain error", RuntimeError("boom"), str(GENERIC_FAILURE)),
    ("wrapped plain error", _invoke_error(KeyError("job")), str(GENERIC_FAILURE)),
]


@pytest.mark.parametrize(
    ("error", "expected"),
    [(e, m) for _, e, m in REPLY_CASES],
    ids=[case for case, _, _ in REPLY_CASES],
)
async def test_each_error_gets_a_private_reply(error: BaseException, expected: str) -> None:
    """Known errors are explained, anything else gets the generic apology, always ephemeral."""
    interaction = fake_interaction()
    await reply_to_error(interaction, error)
    interaction.response.send_message.assert_awaited_once()
    (text,), kwargs = interaction.response.send_message.await_args
    assert expected in text
    assert kwargs == {"ephemeral": True}


async def test_an_unexpected_error_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A plain exception is logged at ERROR with the traceback and what was clicked."""
    interaction = fake_interaction(custom_id="imagine:delete:" + "a" * 32)
    await reply_to_error(interaction, ValueError("unexpected"))
    [record] = [r for r in caplog.records if r.name == "bot.tree"]
    assert record.levelno == logging.ERROR
    assert "imagine:delete:" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


async def test_a_user_facing_error_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Refusals meant for the member are not errors of the bot."""
    await reply_to_error(fake_interaction(), UserFacingError(_("Only the member who asked.")))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_answered_interaction_gets_a_followup() -> None:
    """After a defer, the reply goes out as an ephemeral followup."""
    interaction = fake_interaction(done=True)
    await reply_to_error(interaction, RuntimeError("after defer"))
    interaction.response.send_message.assert_not_awaited()
    interaction.followup.send.assert_awaited_once_with(str(GENERIC_FAILURE), ephemeral=True)


async def test_an_expired_interaction_gets_nothing() -> None:
    """Past the token's life there is no one to answer; nothing is sent."""
    interaction = fake_interaction(expired=True)
    await reply_to_error(interaction, UserFacingError(_("too late")))
    interaction.response.send_message.assert_not_awaited()
    interaction.followup.send.assert_not_awaited()


async def test_a_failed_reply_is_only_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """If Discord refuses the error reply itself, that is logged, not raised."""
    interaction = fake_interaction()
    interaction.response.send_message.side_effect = discord.NotFound(
        _http_response(404), "Unknown interaction"
    )
    await reply_to_error(interaction, UserFacingError(_("gone")))
    assert any("could not send the error reply" in r.getMessage() for r in caplog.records)


async def test_the_tree_uses_the_same_reply(caplog: pytest.LogCaptureFixture) -> None:
    """ImagineTree.on_error answers a failed command exactly as reply_to_error does."""
    tree = ImagineTree(discord.Client(intents=discord.Intents.none()))
    interaction = fake_interaction(command=imagine)
    await tree.on_error(interaction, _invoke_error(RuntimeError("engine down")))
    interaction.response.send_message.assert_awaited_once_with(str(GENERIC_FAILURE), ephemeral=True)
    assert any(r.getMessage() == "command imagine failed" for r in caplog.records)


def _http_response(status: int) -> Any:
    response = create_autospec(aiohttp.ClientResponse, instance=True)
    response.status = status
    response.reason = "Not Found"
    return response


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (discord.Locale.chinese, "这个请求已经不存在了。"),
        (discord.Locale.taiwan_chinese, "这个请求已经不存在了。"),
        (discord.Locale.british_english, "That request no longer exists."),
    ],
)
async def test_a_refusal_is_in_the_members_language(locale: discord.Locale, expected: str) -> None:
    """The refusal raised below cogs/ is rendered here, in the interaction's locale."""
    interaction = fake_interaction()
    interaction.locale = locale
    await reply_to_error(interaction, UserFacingError(_("That request no longer exists.")))
    interaction.response.send_message.assert_awaited_once_with(expected, ephemeral=True)
