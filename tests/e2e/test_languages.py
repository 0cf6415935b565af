"""Languages end to end: zh-CN and zh-TW members read Simplified Chinese, everyone else English;
channel messages follow the server's preferred locale; commands register both languages.

The Discord stand-in sends each member's client `locale` and the server's `guild_locale` on
every interaction, as Discord does (imagine_standins/discord/world.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from discord import app_commands

from bot.jobs.models import JobState
from bot.store.database import Database
from bot.tree import CatalogueTranslator
from imagine_standins.discord import FakeDiscord, InteractionRecord, StoredMessage
from imagine_standins.kie import Durations, FakeKie
from tests.e2e.stack import Stack, start_stack, stop_stack, text_of

GLOBAL_PUT = "PUT /applications/{application_id}/commands"


@dataclass(frozen=True)
class Words:
    """What a member of one language reads at each step."""

    locale: str
    refusal: str
    progress: str
    cancel: str
    cancelled: str
    done: str
    result: str
    buttons: tuple[str, ...]
    quota: str


CHINESE = Words(
    locale="zh-CN",
    refusal="此频道已关闭 /imagine。",
    progress="正在生成…",
    cancel="取消",
    cancelled="已取消",
    done="完成！你的图片在下面。",
    result="生成完成",
    buttons=("重新生成", "改写", "编辑", "删除"),
    quota="你在这里的 /imagine 额度",
)
ENGLISH = Words(
    locale="en-US",
    refusal="/imagine is turned off in this channel.",
    progress="Imagining…",
    cancel="Cancel",
    cancelled="Cancelled",
    done="Done — your images are below.",
    result="Imagined",
    buttons=("Reroll", "Remix", "Edit", "Delete"),
    quota="Your /imagine quota here",
)


def labels(message: StoredMessage) -> tuple[str, ...]:
    """Return the labels of a message's buttons, in order."""
    return tuple(
        str(button.get("label"))
        for row in message.components
        for button in row.get("components", [])
        if button.get("type") == 2
    )


def original(stack: Stack, interaction: InteractionRecord) -> StoredMessage | None:
    return stack.discord.original_for(interaction)


@pytest.fixture
def member_locale(stack: Stack) -> Iterator[Any]:
    """Alice's client language, set per test."""

    def set_locale(locale: str) -> Any:
        stack.world.alice.user.locale = locale
        return stack.world.alice

    yield set_locale
    stack.world.alice.user.locale = "en-US"


@pytest.mark.parametrize("words", [CHINESE, ENGLISH], ids=["zh-CN", "en-US"])
async def test_refusal_progress_result_and_quota_in_the_members_language(
    stack: Stack, member_locale: Any, words: Words
) -> None:
    """One member, every step: each reply and message speaks their client's language."""
    alice = member_locale(words.locale)

    # A refusal: /imagine is off in the channel (an English-speaking admin turned it off).
    disable = await stack.discord.send_slash_command(
        stack.world.admin, "imagine-admin channel disable", {}
    )
    await stack.wait_reply(disable, "Now: /imagine is off in")
    refused = await stack.imagine(alice)
    await stack.wait_reply(refused, words.refusal)
    enable = await stack.discord.send_slash_command(
        stack.world.admin, "imagine-admin channel enable", {}
    )
    await stack.wait_reply(enable, "Now: members can use /imagine")

    # Progress, and its Cancel button, while kie takes its time.
    stack.kie.durations = Durations(0.1, 0.1, 30.0)
    slow = await stack.imagine(alice)
    job = await stack.job_for(slow)
    assert job.interaction is not None
    assert (job.interaction.locale, job.interaction.guild_locale) == (words.locale, "en-US")
    progress = await stack.discord.wait_for(
        lambda: (m := original(stack, slow)) and m.components and m
    )
    assert words.progress in text_of(progress)
    assert labels(progress) == (words.cancel,)
    await stack.discord.click_button(progress, f"imagine:cancel:{job.id}", alice)
    await stack.wait_reply(slow, words.cancelled)

    # A result: the progress message closes, the images come with their buttons.
    stack.kie.durations = Durations(0.05, 0.05, 0.2)
    fast = await stack.imagine(alice, prompt="a red fox in the snow")
    job = await stack.wait_job((await stack.job_for(fast)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    await stack.wait_reply(fast, words.done)
    [result] = stack.results_for(job)
    assert result.embeds[0]["title"] == words.result
    assert labels(result) == words.buttons

    # /quota.
    asked = await stack.discord.send_slash_command(alice, "quota", {})
    assert words.quota in await stack.wait_reply(asked, words.quota)


async def test_everything_else_reads_english_and_zh_tw_reads_simplified_chinese(
    stack: Stack, member_locale: Any
) -> None:
    for locale, expected in (("zh-TW", CHINESE.quota), ("ja", ENGLISH.quota)):
        asked = await stack.discord.send_slash_command(member_locale(locale), "quota", {})
        await stack.wait_reply(asked, expected)


async def test_a_zh_cn_admins_answers_and_refusals_are_chinese(stack: Stack) -> None:
    stack.world.admin.user.locale = "zh-CN"
    asked = await stack.discord.send_slash_command(
        stack.world.admin, "imagine-admin quota default", {"limit": 5, "period": "day"}
    )
    await stack.wait_reply(asked, "默认上限（所有成员）：未设置 → **每天 5 张**")
    refused = await stack.discord.send_slash_command(
        stack.world.bob, "imagine-admin mode", {"mode": "open"}, locale="zh-CN"
    )
    await stack.wait_reply(refused, "只有拥有 **管理服务器** 权限的成员才能使用 /imagine-admin。")


@pytest.fixture
async def chinese_server_short_tokens(
    fake_discord: FakeDiscord, kie: FakeKie, sqlite_db: Database
) -> AsyncIterator[Stack]:
    """A server whose preferred locale is zh-CN; tokens expire after 2 s (Discord: 15 min)."""
    fake_discord.token_lifetime = 2
    fake_discord.world.preferred_locale = "zh-CN"
    s = await start_stack(fake_discord, kie, sqlite_db)
    yield s
    await stop_stack(s)


async def test_a_channel_message_follows_the_servers_language(
    chinese_server_short_tokens: Stack,
) -> None:
    """After the token expired, the result goes to the channel in the server's language."""
    stack = chinese_server_short_tokens
    stack.kie.durations = Durations(0.1, 0.1, 2.5)
    interaction = await stack.imagine(stack.world.alice)  # alice's client is in English
    progress = await stack.discord.wait_for(
        lambda: (m := original(stack, interaction)) and m.components and m
    )
    assert ENGLISH.progress in text_of(progress)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message
    assert job.delivered_via == "channel"
    assert job.interaction is not None and job.interaction.guild_locale == "zh-CN"
    [result] = stack.results_for(job)
    assert result.kind == "channel"
    assert result.embeds[0]["title"] == CHINESE.result
    assert labels(result) == CHINESE.buttons


def _nodes(command: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield command
    for option in command.get("options") or []:
        yield from _nodes(option)


async def test_registration_carries_both_languages(stack: Stack) -> None:
    """Every command, group, subcommand and option description and every choice name has
    its zh-CN (and zh-TW) localisation; names stay English; the stand-in's rules held."""
    [sync] = stack.discord.requests_to(GLOBAL_PUT)
    assert sync.status == 200, sync.response
    nodes = [node for command in sync.json for node in _nodes(command)]
    assert len(nodes) > 50
    for node in nodes:
        localised = node.get("description_localizations") or {}
        assert set(localised) == {"zh-CN", "zh-TW"}, node["name"]
        assert localised["zh-CN"] != node["description"], node["description"]
        assert not node.get("name_localizations"), node["name"]
        for choice in node.get("choices") or []:
            assert set(choice.get("name_localizations") or {}) == {"zh-CN", "zh-TW"}, choice
    imagine = next(c for c in sync.json if c["name"] == "imagine")
    size = next(o for o in imagine["options"] if o["name"] == "size")
    square_hd = next(c for c in size["choices"] if c["value"] == "square_hd")
    assert square_hd["name_localizations"]["zh-CN"] == "正方形高清"


async def test_a_changed_translation_syncs_the_commands_again(
    fake_discord: FakeDiscord, kie: FakeKie, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync hash covers the localisations: a new translation alone syncs once more."""
    await stop_stack(await start_stack(fake_discord, kie, sqlite_db))
    await stop_stack(await start_stack(fake_discord, kie, sqlite_db))
    assert fake_discord.command_syncs == {"global": 1}

    translate = CatalogueTranslator.translate

    async def reworded(
        self: CatalogueTranslator,
        string: app_commands.locale_str,
        locale: Any,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        found = await translate(self, string, locale, context)
        return "查看你的额度" if string.message.startswith("How many images you may") else found

    monkeypatch.setattr(CatalogueTranslator, "translate", reworded)
    await stop_stack(await start_stack(fake_discord, kie, sqlite_db))
    assert fake_discord.command_syncs == {"global": 2}
    second = fake_discord.requests_to(GLOBAL_PUT)[-1]
    quota = next(c for c in second.json if c["name"] == "quota")
    assert quota["description_localizations"]["zh-CN"] == "查看你的额度"
