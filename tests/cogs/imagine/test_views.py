"""Buttons and the Remix modal: they reach the cog through JobActions and never fail silently."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.errors import UserFacingError
from bot.i18n import _
from bot.tree import GENERIC_FAILURE
from cogs.imagine._views import (
    CancelButton,
    DeleteButton,
    EditButton,
    JobActions,
    RemixButton,
    RemixModal,
    RerollButton,
    job_actions,
)
from tests.cogs.helpers import fake_interaction

JOB_ID = "0123456789abcdef0123456789abcdef"


class Actions:
    """A JobActions that records each call, or raises `error` instead."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def _act(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.error is not None:
            raise self.error

    async def cancel(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        await self._act("cancel", job_id)

    async def reroll(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        await self._act("reroll", job_id)

    async def open_remix(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        await self._act("open_remix", job_id)

    async def remix(self, interaction: discord.Interaction[Any], job_id: str, prompt: str) -> None:
        await self._act("remix", job_id, prompt)

    async def open_edit(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        await self._act("open_edit", job_id)

    async def edit(
        self, interaction: discord.Interaction[Any], job_id: str, prompt: str, image: int | None
    ) -> None:
        await self._act("edit", job_id, prompt, image)

    async def delete(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        await self._act("delete", job_id)


BUTTONS = [
    (CancelButton, "cancel"),
    (RerollButton, "reroll"),
    (RemixButton, "open_remix"),
    (EditButton, "open_edit"),
    (DeleteButton, "delete"),
]


def test_the_imagine_cog_implements_job_actions() -> None:
    """The cog the buttons look up has every method of the protocol they call."""
    from cogs.imagine import Imagine

    assert issubclass(Imagine, JobActions)


@pytest.mark.parametrize(("button", "action"), BUTTONS, ids=[a for _, a in BUTTONS])
async def test_each_button_calls_its_action(button: Any, action: str) -> None:
    """A click calls the matching JobActions method with the job id from the custom_id."""
    actions = Actions()
    interaction = fake_interaction(cogs={"Imagine": actions})
    await button(JOB_ID).callback(interaction)
    assert actions.calls == [(action, (JOB_ID,))]
    interaction.response.send_message.assert_not_awaited()


@pytest.mark.parametrize(("button", "action"), BUTTONS, ids=[a for _, a in BUTTONS])
async def test_a_plain_exception_gets_the_generic_private_reply(
    button: Any, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An action raising a plain exception answers privately and logs, instead of failing."""
    interaction = fake_interaction(cogs={"Imagine": Actions(RuntimeError("database gone"))})
    await button(JOB_ID).callback(interaction)
    interaction.response.send_message.assert_awaited_once_with(str(GENERIC_FAILURE), ephemeral=True)
    assert any(r.exc_info and "database gone" in str(r.exc_info[1]) for r in caplog.records)


async def test_a_user_facing_error_is_shown_as_it_is() -> None:
    """A refusal from the cog reaches the member in its own words."""
    error = UserFacingError(_("Only the member who asked for these images can cancel them."))
    interaction = fake_interaction(cogs={"Imagine": Actions(error)})
    await CancelButton(JOB_ID).callback(interaction)
    interaction.response.send_message.assert_awaited_once_with(error.message, ephemeral=True)


async def test_a_deferred_click_gets_a_followup() -> None:
    """When the action deferred before failing, the apology goes out as a followup."""
    interaction = fake_interaction(done=True, cogs={"Imagine": Actions(KeyError("job"))})
    await RerollButton(JOB_ID).callback(interaction)
    interaction.followup.send.assert_awaited_once_with(str(GENERIC_FAILURE), ephemeral=True)


@pytest.mark.parametrize("cog", [None, object()], ids=["not loaded", "not JobActions"])
async def test_without_the_cog_the_click_is_refused_politely(cog: Any) -> None:
    """With no Imagine cog loaded (or something else under its name) the member is told so."""
    interaction = fake_interaction(cogs={"Imagine": cog} if cog else {})
    with pytest.raises(UserFacingError, match="not available"):
        job_actions(interaction)
    await DeleteButton(JOB_ID).callback(interaction)
    [(text,), _] = interaction.response.send_message.await_args
    assert "not available" in text


async def test_the_remix_modal_is_shown_and_left_to_its_custom_id() -> None:
    """Opening shows the earlier prompt; the object stops listening at once, so the submission
    is answered by its custom_id (cogs/imagine/_edit.py), also after a restart."""
    interaction = fake_interaction()
    modal = RemixModal(JOB_ID, "a castle")
    await modal.open(interaction)
    interaction.response.send_modal.assert_awaited_once_with(modal)
    assert modal.custom_id == f"imagine:remix-modal:{JOB_ID}"
    assert modal.prompt.default == "a castle"
    assert modal.is_finished()
