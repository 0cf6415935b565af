"""Command registration in both languages, from the real command tree and the translator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discord
from discord import app_commands

from bot.tree import CatalogueTranslator
from imagine_standins.discord.command_rules import check_bulk_commands
from tests.i18n.catalogue import command_tree


async def _payload() -> list[dict[str, Any]]:
    tree = await command_tree()
    translator = CatalogueTranslator()
    return [await c.get_translated_payload(tree, translator) for c in tree.get_commands()]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for option in node.get("options") or []:
        yield from _nodes(option)


async def test_every_description_and_choice_has_chinese_within_discords_rules() -> None:
    payload = await _payload()
    check_bulk_commands(payload)  # Discord's rules, localisations included
    nodes = [n for command in payload for n in _nodes(command)]
    for node in nodes:
        zh = node["description_localizations"]
        assert zh["zh-CN"] == zh["zh-TW"], node["name"]
        assert 1 <= len(zh["zh-CN"]) <= 100 and zh["zh-CN"] != node["description"]
        assert not node.get("name_localizations"), "names stay English"
        for choice in node.get("choices") or []:
            assert 1 <= len(choice["name_localizations"]["zh-CN"]) <= 100, choice
    names = {n["name"] for n in payload}
    assert names == {"imagine", "quota", "imagine-admin"}


async def test_only_chinese_locales_and_only_descriptions_are_translated() -> None:
    translator = CatalogueTranslator()
    string = app_commands.locale_str("How many images you may still generate here")
    where = app_commands.TranslationContextLocation

    async def ask(locale: discord.Locale, location: app_commands.TranslationContextLocation) -> Any:
        context = app_commands.TranslationContext(location=location, data=None)
        return await translator.translate(string, locale, context)  # type: ignore[arg-type]

    assert (
        await ask(discord.Locale.chinese, where.command_description)
        == "查看你在这里还能生成多少张图片"
    )
    assert await ask(discord.Locale.taiwan_chinese, where.command_description) is not None
    assert await ask(discord.Locale.japanese, where.command_description) is None
    assert await ask(discord.Locale.american_english, where.command_description) is None
    assert await ask(discord.Locale.chinese, where.command_name) is None
    unknown = app_commands.locale_str("A description nobody translated")
    context = app_commands.TranslationContext(location=where.command_description, data=None)
    assert await translator.translate(unknown, discord.Locale.chinese, context) is None
