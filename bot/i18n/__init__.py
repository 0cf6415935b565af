"""Words in the member's language: English, or Simplified Chinese for `zh-CN` and `zh-TW`.

A sentence is written in English once, as a gettext msgid with `{named}` placeholders, and
wrapped where it is written: `_("…", **params)`, or `ngettext("…", "…", n, **params)` for a
count (the catalogue holds each language's plural forms; `{n}` is the count). Both return a
`Text`: a sentence not yet in any language, which code below the Discord side passes around
or raises (`UserFacingError`) without knowing who will read it. The Discord side renders it
with the reader's `Lang` (`language(interaction.locale)`); `str(text)` is the English, for
logs and the jobs table. A param that is itself a `Text` is rendered in the same language,
and a list of them is joined with the language's separator.

The catalogue is `locale/zh_CN/LC_MESSAGES/imagine.po` beside this file, compiled to the
`.mo` gettext reads (the stdlib's `gettext`: no Babel at run time). The terms it keeps
consistent are in `GLOSSARY.md`; tests/i18n/catalogue.py extracts, updates and compiles it.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DOMAIN",
    "ENGLISH",
    "LOCALE_DIR",
    "Lang",
    "Text",
    "_",
    "chinese",
    "language",
    "ngettext",
]

DOMAIN = "imagine"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence in no language yet: its English msgid, plural and values."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    n: int = 1

    def __str__(self) -> str:
        return ENGLISH(self)

    def with_params(self, **params: object) -> Text:
        """Return the same sentence with `params` added."""
        return Text(self.msgid, {**self.params, **params}, self.plural, self.n)


def _(msgid: str, /, **params: object) -> Text:
    """Mark `msgid` for the catalogue and return it as a `Text` with `params`."""
    return Text(msgid, params)


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> Text:
    """Mark a sentence with a count for the catalogue; `{n}` in it is the count."""
    return Text(singular, {"n": n, **params}, plural, n)


class Lang:
    """One language: renders `Text` with its catalogue."""

    def __init__(self, code: str, translations: gettext.NullTranslations) -> None:
        self.code = code
        self._translations = translations

    def __repr__(self) -> str:
        return f"Lang({self.code!r})"

    def __call__(self, text: Text) -> str:
        """Return `text` in this language, its placeholders filled."""
        if text.plural is None:
            template = self._translations.gettext(text.msgid)
        else:
            template = self._translations.ngettext(text.msgid, text.plural, text.n)
        if not text.params and "{" not in template and "}" not in template:
            return template  # what format() would return, without its work (labels, titles)
        return template.format(**{k: self._value(v) for k, v in text.params.items()})

    def _value(self, value: object) -> object:
        if isinstance(value, Text):
            return self(value)
        if isinstance(value, list | tuple):
            # A list of sentences or phrases, joined as the language lists things.
            return self(LIST_SEPARATOR).join(str(self._value(v)) for v in value)
        return value

    def gettext(self, msgid: str) -> str:
        """Return the catalogue's translation of a bare msgid (the msgid if it has none)."""
        return self._translations.gettext(msgid)

    def has(self, msgid: str) -> bool:
        """Return whether the catalogue translates `msgid` (English translates everything)."""
        catalog = getattr(self._translations, "_catalog", None)
        return catalog is None or msgid in catalog


ENGLISH = Lang("en", gettext.NullTranslations())
# Between the items of a list param: "a, b" in English.
LIST_SEPARATOR = _(", ")


@functools.cache
def chinese() -> Lang:
    """Return Simplified Chinese (the catalogue is read on first use)."""
    # No fallback: a package installed without its catalogue fails loudly, not in English.
    return Lang("zh-CN", gettext.translation(DOMAIN, LOCALE_DIR, languages=["zh_CN"]))


def language(locale: object) -> Lang:
    """Return the language for a Discord locale: Chinese for zh-CN and zh-TW, else English.

    `locale` is a `discord.Locale` or its value ("zh-CN"), or None when nobody said.
    """
    value = str(getattr(locale, "value", locale) or "")
    return chinese() if value.lower().startswith("zh") else ENGLISH
