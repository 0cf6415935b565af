"""Per-guild blocklist of words, phrases and regular expressions refused in prompts.

An entry is either

- a word or phrase, matched case-insensitively as whole words (``cat`` blocks "Cat!" but not
  "category"; spaces in a phrase match any run of whitespace), or
- a regular expression written with the prefix ``re:`` (``re:sp[a4]m+``), searched
  case-insensitively with Python's `re`.

The stdlib `re` has no timeout and backtracks, and a long match holds the GIL, so neither a
timer nor a thread can stop one. Safety therefore comes from a static check when a regex is
added. It is refused if it is longer than 200 characters, invalid, uses backreferences or
conditionals, or puts a repeat or alternation inside a repeat (``(a+)+``, ``(.*)*``,
``(a|ab)*``). Its cost is then estimated as the product of its repeats' widths (an unbounded
repeat counts as a 5000-character text, the longest prompt /imagine accepts), because
overlapping repeats backtrack polynomially: ``.*a.*b`` took minutes on 5000 characters,
``.*x`` 0.1 s. Each regex may cost at most 21 000 (one unbounded repeat and two ``?``, or
short bounded ones like ``{0,20}``) and a guild's regexes together 50 000, which bounds a
check of 5000 characters at a second or two against a text built to be worst, and
milliseconds for real prompts.

What is checked is exactly the text kie receives (`bot.jobs.prompt.prompt_for_kie`: the
member's prompt plus any count sentence), whole, after NFKC normalisation with invisible
format characters removed, so lookalike and zero-width tricks don't slip past. Nothing is cut:
one character can become 18 under NFKC (U+FDFA), so a cut after normalisation once let a
blocked word hide behind a few hundred such characters while kie still received it.

Normalisation can make a 5000-character prompt about 90 000 characters long, and on such a
text an unbounded repeat costs 18 times more per starting point, at 18 times as many starting
points (``.*x`` took 34 s on 90 000). Before matching, each entry's search is therefore
priced: the text's length times the entry's cost at that length (a word or phrase costs its
length). If one search costs more than the costliest allowed regex on a 5000-character text,
or all of them more than a full blocklist on one, the prompt is refused as too long to check
rather than matched. Any text of up to 5000 characters is within both by construction, no real
prompt comes near them, and nothing unchecked reaches kie. Each guild's entries are compiled
once and cached until a write changes them, in any process sharing the database
(bot/control/notices.py).
"""

from __future__ import annotations

import asyncio
import importlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.cluster.notify import Notifier
from bot.control import audit
from bot.control.audit import Change
from bot.control.errors import InvalidSetting, PromptBlocked
from bot.control.notices import GuildNotices
from bot.errors import UserFacingError
from bot.i18n import Text, _
from bot.jobs.prompt import prompt_for_kie
from bot.store.database import Database

__all__ = [
    "MAX_ENTRIES",
    "MAX_GUILD_REGEX_COST",
    "MAX_REGEX_COST",
    "REGEX_PREFIX",
    "VETTED_LENGTH",
    "BlocklistStore",
    "PromptTooLongToCheck",
    "normalise_entry",
    "normalise_prompt",
    "regex_cost",
]

# The regex parser is private but stable across 3.11+; it is the only way to see a
# pattern's structure without writing our own parser.
_parser: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

REGEX_PREFIX = "re:"
MAX_ENTRIES = 200
MAX_ENTRY_LENGTH = 200
VETTED_LENGTH = 5000  # regexes are priced for a text this long when added: the longest prompt
MAX_REGEX_COST = 21_000  # one unbounded repeat (5001) and two ? (x2 each)
MAX_GUILD_REGEX_COST = 50_000
# What one search (text length x the entry's cost at that length) and a whole check may cost:
# what the costliest allowed regex, and a full blocklist of regexes and words, cost on the
# worst 5000-character text. A search holds the GIL throughout, so the first bounds how long
# the event loop can stall (about 0.6 s here), the second the whole check (about 3 s).
MAX_SEARCH_COST = MAX_REGEX_COST * VETTED_LENGTH
MAX_CHECK_COST = VETTED_LENGTH * (MAX_GUILD_REGEX_COST + MAX_ENTRIES * MAX_ENTRY_LENGTH)
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT))
_FORBIDDEN = {
    _c.GROUPREF: _("backreferences aren't allowed"),
    _c.GROUPREF_EXISTS: _("conditional groups aren't allowed"),
}


class PromptTooLongToCheck(UserFacingError):
    """The prompt spells out to a text too long to check against the blocklist in bounded time."""

    MESSAGE = _(
        "Your prompt is too long to check against this server's blocklist: it uses many "
        "characters that each stand for several letters (like \ufdfa or \u33af). Shorten it, "
        "or write those out."
    )

    def __init__(self, length: int) -> None:
        super().__init__(self.MESSAGE)
        self.length = length


def normalise_prompt(prompt: str) -> str:
    """Return the text as the blocklist sees it: NFKC, no format characters, never cut."""
    text = unicodedata.normalize("NFKC", prompt)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def normalise_entry(entry: str) -> str:
    """Return the stored form: a trimmed regex, or a lower-cased word with single spaces."""
    entry = entry.strip()
    if entry.lower().startswith(REGEX_PREFIX):
        return REGEX_PREFIX + entry[len(REGEX_PREFIX) :].strip()
    return " ".join(normalise_prompt(entry).casefold().split())


def regex_cost(pattern: str) -> int:
    """Return the pattern's estimated backtracking cost, or raise InvalidSetting if unsafe."""
    if len(pattern) > MAX_ENTRY_LENGTH:
        raise InvalidSetting(_("Entries are at most {most} characters.", most=MAX_ENTRY_LENGTH))
    try:
        re.compile(pattern)
        parsed = _parser.parse(pattern)
    except re.error as exc:
        raise InvalidSetting(
            _("That isn't a valid regular expression ({error}).", error=str(exc))
        ) from None
    try:
        cost = _cost(parsed, in_repeat=False, length=VETTED_LENGTH)
    except _Unsafe as exc:
        raise InvalidSetting(
            _("That regular expression can't be used: {why}.", why=exc.text)
        ) from None
    if cost > MAX_REGEX_COST:
        raise InvalidSetting(
            _(
                "That regular expression could take too long on a long prompt: use at most one "
                "unbounded repeat (* or +) and short bounded ones such as {example}.",
                example="{0,20}",
            )
        )
    if re.compile(pattern, re.IGNORECASE).search(""):
        raise InvalidSetting(_("That regular expression matches every prompt."))
    return cost


class _Unsafe(Exception):
    """A regex construct that can backtrack catastrophically."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


def _cost(items: Any, *, in_repeat: bool, length: int) -> int:
    """Estimate how much a sequence can backtrack at each starting point of a `length`-long
    text: the product of its repeats' widths (an unbounded repeat spans the whole text)."""
    cost = 1
    for op, arg in items:
        if op in _FORBIDDEN:
            raise _Unsafe(_FORBIDDEN[op])
        if op in _REPEATS:
            low, high, body = arg
            if in_repeat:
                raise _Unsafe(_("a repeat inside another repeat (like (a+)+) isn't allowed"))
            high = length if high == _c.MAXREPEAT else min(high, length)
            cost *= max(high - low + 1, 1) * _cost(body, in_repeat=high > 1, length=length)
        elif op == _c.SUBPATTERN:
            cost *= _cost(arg[-1], in_repeat=in_repeat, length=length)
        elif op == _c.BRANCH:
            if in_repeat:
                raise _Unsafe(_("alternation inside a repeat (like (a|ab)*) isn't allowed"))
            cost *= sum(_cost(branch, in_repeat=False, length=length) for branch in arg[1])
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            cost *= _cost(arg[1], in_repeat=in_repeat, length=length)
        elif op == getattr(_c, "ATOMIC_GROUP", None):
            cost *= _cost(arg, in_repeat=in_repeat, length=length)
        if cost > MAX_CHECK_COST:
            break  # already over any budget; stop before the number grows huge
    return cost


@dataclass(frozen=True, slots=True)
class _Entry:
    """One entry, compiled, with what it needs to price a check."""

    entry: str
    pattern: re.Pattern[str]
    parsed: Any  # a regex's parse tree; None for a word or phrase

    def cost(self, length: int) -> int:
        """Estimate the work at each starting point of a `length`-long text."""
        if self.parsed is None:
            return max(len(self.entry), 1)
        try:
            return _cost(self.parsed, in_repeat=False, length=length)
        except _Unsafe:  # stored before today's rules: price it out of long texts
            return MAX_CHECK_COST


def _compile(entry: str) -> _Entry:
    if entry.startswith(REGEX_PREFIX):
        source = entry[len(REGEX_PREFIX) :]
        return _Entry(entry, re.compile(source, re.IGNORECASE), _parser.parse(source))
    words = [re.escape(word) for word in entry.split()]
    # Look-arounds rather than \b, so entries that start or end with punctuation ("c++") work.
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
    return _Entry(entry, pattern, None)


@dataclass(frozen=True, slots=True)
class _Compiled:
    entries: tuple[_Entry, ...]


class BlocklistStore:
    """A guild's blocklist in the database, compiled once per guild and cached until a write."""

    def __init__(self, db: Database, *, notifier: Notifier | None = None) -> None:
        self._db = db
        self._compiled: dict[int, _Compiled] = {}
        # Bumped on every write to a guild (`_epoch`: to any), so a read that raced a write
        # isn't cached.
        self._generation: dict[int, int] = {}
        self._epoch = 0
        self._notices = GuildNotices(
            notifier, "control.blocklist", forget=self.invalidate, forget_all=self.invalidate_all
        )

    def invalidate(self, guild_id: int) -> None:
        """Forget the guild's compiled entries."""
        self._generation[guild_id] = self._generation.get(guild_id, 0) + 1
        self._compiled.pop(guild_id, None)

    def invalidate_all(self) -> None:
        """Forget every guild's compiled entries."""
        self._epoch += 1
        self._compiled.clear()

    def _stamp(self, guild_id: int) -> tuple[int, int]:
        return self._epoch, self._generation.get(guild_id, 0)

    async def entries(self, guild_id: int) -> list[str]:
        """Return the guild's entries in the order they sort."""
        rows = await self._db.fetch(
            "SELECT entry FROM blocklist WHERE guild_id = $1 ORDER BY entry", guild_id
        )
        return [row["entry"] for row in rows]

    async def add(self, guild_id: int, entry: str, *, actor_id: int, now: float) -> Change:
        """Add a word, phrase or `re:` regex, or raise InvalidSetting saying why not."""
        stored = normalise_entry(entry)
        cost = _entry_cost(stored)
        try:
            async with self._db.transaction() as tx:
                rows = await tx.fetch("SELECT entry FROM blocklist WHERE guild_id = $1", guild_id)
                if len(rows) >= MAX_ENTRIES:
                    raise InvalidSetting(
                        _("The blocklist is full ({most} entries).", most=MAX_ENTRIES)
                    )
                existing = [row["entry"] for row in rows if row["entry"] != stored]
                if cost and cost + sum(_entry_cost(e) for e in existing) > MAX_GUILD_REGEX_COST:
                    raise InvalidSetting(
                        _(
                            "The blocklist's regular expressions would together take too long "
                            "to check; simplify or remove one first."
                        )
                    )
                added = await tx.execute(
                    "INSERT INTO blocklist (guild_id, entry, added_by, created_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id, entry) DO NOTHING",
                    guild_id,
                    stored,
                    actor_id,
                    now,
                )
                if not added:
                    raise InvalidSetting(_("`{entry}` is already on the blocklist.", entry=stored))
                await self._notices.changed(tx, guild_id)
                return await audit.record(
                    tx,
                    guild_id=guild_id,
                    actor_id=actor_id,
                    action="blocklist.add",
                    target="blocklist",
                    old=None,
                    new=stored,
                    now=now,
                )
        finally:
            self.invalidate(guild_id)

    async def remove(self, guild_id: int, entry: str, *, actor_id: int, now: float) -> Change:
        """Remove an entry (written as it was added), or raise InvalidSetting if absent."""
        stored = normalise_entry(entry)
        try:
            async with self._db.transaction() as tx:
                removed = await tx.execute(
                    "DELETE FROM blocklist WHERE guild_id = $1 AND entry = $2", guild_id, stored
                )
                if not removed:
                    raise InvalidSetting(_("`{entry}` isn't on the blocklist.", entry=stored))
                await self._notices.changed(tx, guild_id)
                return await audit.record(
                    tx,
                    guild_id=guild_id,
                    actor_id=actor_id,
                    action="blocklist.remove",
                    target="blocklist",
                    old=stored,
                    new=None,
                    now=now,
                )
        finally:
            self.invalidate(guild_id)

    async def _entries(self, guild_id: int) -> _Compiled:
        cached = self._compiled.get(guild_id)
        if cached is not None:
            return cached
        stamp = self._stamp(guild_id)
        compiled = _Compiled(tuple(_compile(e) for e in await self.entries(guild_id)))
        if self._stamp(guild_id) == stamp:
            self._compiled[guild_id] = compiled
        return compiled

    async def check(self, guild_id: int, text: str) -> str | None:
        """Return the first entry `text` (all of it) matches, or None if it is clean.

        Raise PromptTooLongToCheck if the normalised text is too long to match in bounded time.
        """
        compiled = await self._entries(guild_id)
        if not compiled.entries:
            return None
        # Normalising and matching are bounded but still CPU work on up to ~90 000
        # characters: keep them off the event loop so acknowledgements never wait on them.
        return await asyncio.to_thread(_first_match, compiled.entries, text)

    async def ensure_clean(self, guild_id: int, prompt: str, *, images: int) -> None:
        """Raise PromptBlocked if what kie would receive for this prompt and image count
        matches an entry (PromptTooLongToCheck if it can't be checked in bounded time)."""
        entry = await self.check(guild_id, prompt_for_kie(prompt, images))
        if entry is not None:
            raise PromptBlocked(entry)


def _within_budget(entries: Sequence[_Entry], length: int) -> bool:
    """Return whether searching a `length`-long text for `entries` stays within the bounds."""
    costs = [length * entry.cost(length) for entry in entries]
    return max(costs, default=0) <= MAX_SEARCH_COST and sum(costs) <= MAX_CHECK_COST


def _first_match(entries: Sequence[_Entry], text: str) -> str | None:
    """Return the first entry whose pattern occurs in the normalised `text`."""
    normalised = normalise_prompt(text)
    if not _within_budget(entries, len(normalised)):
        raise PromptTooLongToCheck(len(normalised))
    for entry in entries:
        if entry.pattern.search(normalised):
            return entry.entry
    return None


def _entry_cost(stored: str) -> int:
    """Return a regex entry's cost (0 for a word), or raise InvalidSetting if unusable."""
    if stored.startswith(REGEX_PREFIX):
        pattern = stored[len(REGEX_PREFIX) :]
        if not pattern:
            raise InvalidSetting(_("The regular expression after `re:` is empty."))
        return regex_cost(pattern)
    if not stored:
        raise InvalidSetting(_("The blocklist entry is empty."))
    if len(stored) > MAX_ENTRY_LENGTH:
        raise InvalidSetting(_("Entries are at most {most} characters.", most=MAX_ENTRY_LENGTH))
    return 0
