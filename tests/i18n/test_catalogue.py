"""The catalogue: every message in both languages, the same placeholders, a fresh .mo."""

from __future__ import annotations

import re
import string
from functools import cache

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo

from bot.i18n import ENGLISH, Text, _, chinese, language, ngettext
from tests.i18n.catalogue import MO, PO, ROOT, SOURCES, Found, all_messages, read_catalogue

# Messages whose Chinese rightly has no Chinese character: numbers, the command's name,
# punctuation around placeholders.
SAME_IN_BOTH = frozenset(
    {
        "1K",
        "2K",
        "4K",
        "/imagine",
        ", ",
        "{this_period} {used} → **0**",
        "{owner}: {old} → **{new}**",
        "{owner}: {limit}",
        "{setting}: {old} → **{new}**",
    }
)
HAN = re.compile(r"[\u4e00-\u9fff]")


@cache
def _catalogue() -> Catalog:
    return read_catalogue()


@cache
def _needed() -> tuple[Found, ...]:
    return tuple(all_messages())


def _messages() -> list[Message]:
    return [m for m in _catalogue() if m.id]


def _strings(message: Message) -> list[str]:
    value = message.string
    return list(value) if isinstance(value, tuple | list) else [value]


def _ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple | list) else [message.id]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_message_in_the_code_is_in_the_catalogue() -> None:
    """A sentence added to bot/ or cogs/ (or the command tree) fails here until translated."""
    missing = sorted(
        f"{item.where}: {item.msgid!r}" for item in _needed() if item.msgid not in _catalogue()
    )
    assert not missing, "run .venv/bin/python -m tests.i18n.catalogue and translate:\n" + "\n".join(
        missing
    )


def test_the_catalogue_holds_nothing_the_code_no_longer_says() -> None:
    needed = {item.msgid for item in _needed()}
    stale = [m.id for m in _messages() if m.id not in needed]
    assert not stale, f"no longer in the code (run tests.i18n.catalogue): {stale}"


def test_every_message_has_both_languages() -> None:
    """English is the msgid; the Chinese is there, not fuzzy, and really Chinese."""
    lacking = [m.id for m in _messages() if not all(_ids(m)) or not all(_strings(m)) or m.fuzzy]
    assert not lacking, f"untranslated or fuzzy: {lacking}"
    untranslated = [
        m.id
        for m in _messages()
        if _ids(m)[0] not in SAME_IN_BOTH and not all(HAN.search(s) for s in _strings(m))
    ]
    assert not untranslated, f"no Chinese in: {untranslated}"


def test_placeholders_are_the_same_in_both_languages() -> None:
    differ = []
    for m in _messages():
        english = set().union(*(_fields(s) for s in _ids(m)))
        for translated in _strings(m):
            if _fields(translated) != english:
                differ.append((m.id, translated))
    assert not differ, f"placeholders differ: {differ}"


def test_chinese_has_one_plural_form() -> None:
    assert _catalogue().num_plurals == 1
    assert all(len(_strings(m)) == 1 for m in _messages() if isinstance(m.id, tuple))


def test_the_compiled_catalogue_is_not_stale() -> None:
    """The committed .mo says exactly what the .po says (tests.i18n.catalogue compiles it)."""
    with MO.open("rb") as file:
        mo = read_mo(file)

    def pairs(catalog: Catalog | list[Message]) -> dict[object, object]:
        return {
            tuple(_ids(m)) if isinstance(m.id, tuple | list) else m.id: tuple(_strings(m))
            for m in catalog
            if m.id
        }

    assert pairs(list(mo)) == pairs(_messages())
    assert mo.num_plurals == _catalogue().num_plurals


def test_no_image_s_anywhere() -> None:
    """Counts come from the catalogue's plural forms, never "image(s)"."""
    files = [p for top in SOURCES for p in (ROOT / top).rglob("*") if p.suffix in {".py", ".po"}]
    files += [ROOT / "README.md", ROOT / "README.zh-CN.md"]
    offenders = [
        str(path.relative_to(ROOT))
        for path in files
        if path.exists() and "image(s)" in path.read_text(encoding="utf-8").lower()
    ]
    assert not offenders


def test_gettext_reads_the_compiled_catalogue_beside_the_po() -> None:
    assert MO.parent == PO.parent
    assert chinese()(_("Cancel")) == "取消"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh-CN", "取消"),
        ("zh-TW", "取消"),
        ("en-US", "Cancel"),
        ("en-GB", "Cancel"),
        ("ja", "Cancel"),
        (None, "Cancel"),
    ],
)
def test_zh_cn_and_zh_tw_read_chinese_and_everyone_else_english(
    locale: str | None, expected: str
) -> None:
    assert language(locale)(_("Cancel")) == expected


def test_plurals_params_and_nested_texts() -> None:
    one = ngettext("{n} entry", "{n} entries", 1)
    many = ngettext("{n} entry", "{n} entries", 3)
    assert (ENGLISH(one), ENGLISH(many)) == ("1 entry", "3 entries")
    assert chinese()(many) == "3 条"
    nested = _("Blocklist ({count})", count=many)
    assert (str(nested), chinese()(nested)) == ("Blocklist (3 entries)", "屏蔽词列表（3 条）")
    listed = _("{member}'s counted images reset: {periods}.", member="<@1>", periods=[one, many])
    assert str(listed) == "<@1>'s counted images reset: 1 entry, 3 entries."
    assert isinstance(listed, Text)
