"""The catalogue's tooling: extract every message, update the .po, compile the .mo (Babel).

    .venv/bin/python -m tests.i18n.catalogue      # after changing or adding a sentence

Messages come from two places: the `_(…)` and `ngettext(…)` calls in bot/ and cogs/
(Babel's Python extractor), and the command tree's descriptions and choice names, which
discord.py hands to bot/tree.py's translator (collected here by translating the real tree).
New messages arrive in the .po untranslated; write their Chinese (GLOSSARY.md beside the
catalogue keeps the terms), run this again to compile, and commit the .po and the .mo.
tests/i18n/test_catalogue.py fails while any message is missing, untranslated or stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.ext import commands

from bot.i18n import DOMAIN, LOCALE_DIR
from bot.imagine_bot import COGS
from bot.tree import ImagineTree

ROOT = Path(__file__).resolve().parents[2]
PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
SOURCES = ("bot", "cogs")
KEYWORDS: dict[str, Any] = {"_": None, "ngettext": (1, 2)}
# Strings discord.py asks the translator for that Discord shows (names stay English).
COMMAND_TEXT = frozenset(
    {
        app_commands.TranslationContextLocation.command_description,
        app_commands.TranslationContextLocation.group_description,
        app_commands.TranslationContextLocation.parameter_description,
        app_commands.TranslationContextLocation.choice_name,
    }
)

Msgid = str | tuple[str, str]
# The header's dates: fixed, so the catalogue changes only when its messages do.
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Found:
    """One message and where it was found."""

    msgid: Msgid
    where: str


def source_messages() -> Iterator[Found]:
    """Yield every `_()` / `ngettext()` message in bot/ and cogs/."""
    for top in SOURCES:
        # Babel notes each f-string argument (a param's value, never a message) on stderr.
        with contextlib.redirect_stderr(io.StringIO()):
            extracted = list(extract_from_dir(ROOT / top, keywords=KEYWORDS))
        for filename, _lineno, message, _comments, _context in extracted:
            # Files only, not lines: the .po doesn't change with every edit above a message.
            where = f"{top}/{filename}"
            if isinstance(message, tuple):
                if all(message):  # a call with a non-literal argument is not a message
                    yield Found((message[0], message[1]), where)
            elif message:
                yield Found(message, where)


class _Recorder(app_commands.Translator):
    def __init__(self) -> None:
        self.seen: list[tuple[str, app_commands.TranslationContextLocation]] = []

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale is discord.Locale.chinese:
            self.seen.append((string.message, context.location))
        return None


async def command_tree() -> app_commands.CommandTree[Any]:
    """Return the bot's real command tree, with its cogs loaded but nothing connected."""
    discord.VoiceClient.warn_nacl = False  # as ImagineBot: it never joins voice
    discord.VoiceClient.warn_dave = False
    bot = commands.Bot(
        command_prefix="!", intents=discord.Intents.none(), tree_cls=ImagineTree, help_command=None
    )
    bot.admission = None  # type: ignore[attr-defined]  # read (not used) by the Imagine cog
    for extension in COGS:
        await bot.load_extension(extension)
    return bot.tree


async def command_strings() -> list[tuple[str, app_commands.TranslationContextLocation]]:
    """Return every string Discord would show from the command tree, with where it is used."""
    tree = await command_tree()
    recorder = _Recorder()
    for command in tree.get_commands():
        await command.get_translated_payload(tree, recorder)
    return [(text, where) for text, where in recorder.seen if where in COMMAND_TEXT]


def all_messages() -> list[Found]:
    """Return every message the catalogue must translate, sources first."""
    found = list(source_messages())
    found += [
        Found(text, f"command tree ({where.name})")
        for text, where in asyncio.run(command_strings())
    ]
    return found


def template(found: list[Found]) -> Catalog:
    """Return the catalogue template (what a .pot would hold)."""
    pot = Catalog(project="imagine-bot", domain=DOMAIN, creation_date=FIXED_DATE)
    for item in found:
        if item.msgid in pot:
            pot[item.msgid].locations.append((item.where, None))
        else:
            pot.add(item.msgid, locations=[(item.where, None)])
    return pot


def read_catalogue(path: Path = PO) -> Catalog:
    """Return the Chinese catalogue as written."""
    with path.open("rb") as file:
        return read_po(file, locale="zh_CN", domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    """Return the .mo for `catalog`."""
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def main() -> None:
    """Update the .po from the sources and the command tree, then compile the .mo."""
    catalog = read_catalogue() if PO.exists() else Catalog(locale="zh_CN", domain=DOMAIN)
    catalog.update(template(all_messages()), no_fuzzy_matching=True)
    catalog.obsolete.clear()
    _header(catalog)
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as file:
        write_po(file, catalog, width=100, omit_header=False, sort_output=False)
    untranslated = [m.id for m in catalog if m.id and not _translated(m.string)]
    MO.write_bytes(compiled(catalog))
    print(f"{PO.relative_to(ROOT)}: {len(catalog)} messages, {len(untranslated)} untranslated")


def _translated(string: str | tuple[str, ...] | list[str]) -> bool:
    return all(string) if isinstance(string, tuple | list) else bool(string)


def _header(catalog: Catalog) -> None:
    """Give the catalogue a stable header: no dates or placeholders that change every run."""
    catalog.project = "imagine-bot"
    catalog.version = "1"
    catalog.fuzzy = False
    catalog.creation_date = FIXED_DATE
    catalog.revision_date = FIXED_DATE
    catalog.last_translator = "imagine-bot"
    catalog.language_team = "Simplified Chinese"
    catalog.msgid_bugs_address = ""
    catalog.copyright_holder = "imagine-bot"
    catalog.header_comment = (
        "# Simplified Chinese for imagine-bot: zh-CN and zh-TW members read these.\n"
        "# Terms: bot/i18n/GLOSSARY.md. Update and compile with\n"
        "#     .venv/bin/python -m tests.i18n.catalogue"
    )


if __name__ == "__main__":
    main()
