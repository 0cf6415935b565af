"""Blocklist: whole words, phrases, regexes, and refusing unsafe regexes."""

from __future__ import annotations

import re
import time

import pytest

from bot.control.admission import Admission, Ask
from bot.control.audit import recent
from bot.control.blocklist import (
    MAX_GUILD_REGEX_COST,
    VETTED_LENGTH,
    BlocklistStore,
    PromptTooLongToCheck,
    normalise_entry,
    normalise_prompt,
    regex_cost,
)
from bot.control.control import Control
from bot.control.errors import InvalidSetting, PromptBlocked
from bot.jobs.prompt import prompt_for_kie
from bot.kie import MAX_PROMPT_CHARS
from bot.store.database import Database
from tests.control.helpers import ADMIN, CHANNEL, GUILD, USER

NOW = 1_750_000_000.0

MATCH_CASES = [
    # entry, prompt, blocked?
    ("cat", "a cat on a mat", True),
    ("cat", "A CAT!", True),
    ("cat", "cat", True),
    ("cat", "a category of things", False),
    ("cat", "bobcat", False),
    ("red panda", "a Red   Panda sleeping", True),
    ("red panda", "a red pandas sleeping", False),
    ("c++", "learn c++ today", True),
    ("c++", "abc++ code", False),
    ("cat", "a c\u200bat", True),  # zero-width space removed
    ("cat", "a \uff43\uff41\uff54", True),  # fullwidth letters, NFKC
    ("re:sp[a4]m+", "so much SP4MMM here", True),
    ("re:sp[a4]m+", "spoon", False),
    ("re:^draw", "draw a dog", True),
    ("re:^draw", "please draw a dog", False),
    ("re:foo.*bar", "foo and then bar", True),
]


@pytest.mark.parametrize(("entry", "prompt", "blocked"), MATCH_CASES)
async def test_matching(blocklist: BlocklistStore, entry, prompt, blocked) -> None:
    """Words match whole and case-insensitively; re: entries are searched as regexes."""
    await blocklist.add(GUILD, entry, actor_id=ADMIN, now=NOW)
    found = await blocklist.check(GUILD, prompt)
    assert (found is not None) == blocked
    if blocked:
        assert found == normalise_entry(entry)


async def test_refusal_does_not_echo_the_entry(blocklist: BlocklistStore) -> None:
    """Members are told their prompt has a blocked word, never which regex matched."""
    await blocklist.add(GUILD, "re:secret-[0-9]+", actor_id=ADMIN, now=NOW)
    with pytest.raises(PromptBlocked) as info:
        await blocklist.ensure_clean(GUILD, "secret-42", images=1)
    assert info.value.message == "Your prompt contains a blocked word or phrase."
    assert info.value.entry == "re:secret-[0-9]+"
    await blocklist.ensure_clean(GUILD, "secret", images=1)


# U+FDFA becomes 18 characters under NFKC: 280 of them (280 characters sent) push whatever
# follows past character 5000 of the normalised text.
EXPANDS_18 = "\ufdfa"


def test_expanding_character_is_what_the_tests_assume() -> None:
    """The character the bypass tests use really expands eighteen-fold."""
    assert len(normalise_prompt(EXPANDS_18)) == 18


async def test_blocked_word_behind_expanding_characters(blocklist: BlocklistStore) -> None:
    """A blocked word after text that grows past 5000 characters under NFKC is still found:
    the whole text kie receives is matched, never a cut of it."""
    await blocklist.add(GUILD, "cat", actor_id=ADMIN, now=NOW)
    prompt = EXPANDS_18 * 280 + " a cat"
    assert len(prompt) <= MAX_PROMPT_CHARS
    assert len(normalise_prompt(prompt)) > VETTED_LENGTH
    assert await blocklist.check(GUILD, prompt) == "cat"
    with pytest.raises(PromptBlocked):
        await blocklist.ensure_clean(GUILD, prompt, images=1)


async def test_longest_expansion_is_matched_whole_and_quickly(blocklist: BlocklistStore) -> None:
    """Words are cheap: a 5000-character prompt of U+FDFA (90 000 after NFKC) is matched to
    its very end."""
    await blocklist.add(GUILD, "cat", actor_id=ADMIN, now=NOW)
    prompt = EXPANDS_18 * (MAX_PROMPT_CHARS - 4) + " cat"
    started = time.perf_counter()
    assert await blocklist.check(GUILD, prompt) == "cat"
    assert await blocklist.check(GUILD, prompt.removesuffix(" cat")) is None
    assert time.perf_counter() - started < 5  # guards against minutes, not milliseconds


async def test_text_too_long_to_check_is_refused_not_cut(blocklist: BlocklistStore) -> None:
    """Against an unbounded regex, a text that normalises far past 5000 characters would take
    minutes to match (the GIL held throughout): it is refused, quickly, instead of cut."""
    await blocklist.add(GUILD, "re:.*x", actor_id=ADMIN, now=NOW)
    started = time.perf_counter()
    with pytest.raises(PromptTooLongToCheck) as info:
        await blocklist.ensure_clean(GUILD, EXPANDS_18 * MAX_PROMPT_CHARS, images=1)
    assert time.perf_counter() - started < 1
    assert "too long to check" in info.value.message
    # A prompt as long but of ordinary characters is checked as before.
    assert await blocklist.check(GUILD, "a" * MAX_PROMPT_CHARS) is None
    # So is one that grows a little past 5000 (ellipses become three dots).
    assert await blocklist.check(GUILD, "\u2026" * 2000) is None


async def test_count_sentence_is_checked(blocklist: BlocklistStore) -> None:
    """kie receives the prompt plus a sentence stating the image count: that is checked too."""
    sent = prompt_for_kie("a dog", 4)
    added = [w for w in re.findall(r"[A-Za-z]+", sent) if w.lower() not in ("a", "dog")]
    assert added, "prompt_for_kie no longer adds a count sentence"
    await blocklist.add(GUILD, added[-1], actor_id=ADMIN, now=NOW)
    await blocklist.ensure_clean(GUILD, "a dog", images=1)
    with pytest.raises(PromptBlocked):
        await blocklist.ensure_clean(GUILD, "a dog", images=4)


def _ask(prompt: str, images: int | None = None) -> Ask:
    return Ask(
        guild_id=GUILD,
        channel_id=CHANNEL,
        rules_channel_id=CHANNEL,
        channel_is_nsfw=False,
        user_id=USER,
        role_ids=(),
        prompt=prompt,
        images=images,
    )


async def test_admission_checks_what_kie_receives(db: Database) -> None:
    """/imagine's admission refuses the expanding-character bypass and a blocked count
    sentence, before anything is reserved."""
    control = Control.for_database(db)
    admission = Admission(control=control, jobs=None, engine=None, max_jobs_per_member=2)  # type: ignore[arg-type]
    await control.blocklist.add(GUILD, "cat", actor_id=ADMIN, now=NOW)
    await admission.options(_ask("a dog"))
    with pytest.raises(PromptBlocked):
        await admission.options(_ask(EXPANDS_18 * 280 + " a cat"))
    sent = prompt_for_kie("a dog", 3)
    await control.blocklist.add(GUILD, sent.split()[-1].strip("."), actor_id=ADMIN, now=NOW)
    await admission.options(_ask("a dog", images=1))
    with pytest.raises(PromptBlocked):
        await admission.options(_ask("a dog", images=3))


REFUSED_CASES = [
    # entry, part of the reason
    ("re:(", "isn't a valid regular expression"),
    ("re:[a-", "isn't a valid regular expression"),
    ("re:", "empty"),
    ("   ", "empty"),
    ("re:(a+)+", "repeat inside another repeat"),
    ("re:(.*)*", "repeat inside another repeat"),
    ("re:(\\w+\\s?)+x", "repeat inside another repeat"),
    ("re:(a|ab)*c", "alternation inside a repeat"),
    ("re:(a)\\1", "backreferences"),
    ("re:(?P<x>a)(?P=x)", "backreferences"),
    ("re:(a)?(?(1)b|c)", "conditional groups"),
    ("re:.*a.*b", "take too long"),
    ("re:\\w+\\s+\\w+", "take too long"),
    ("re:.{0,100}a.{0,100}b.{0,100}c", "take too long"),
    ("re:a*", "matches every prompt"),
    ("re:" + "a" * 201, "at most 200 characters"),
    ("x" * 201, "at most 200 characters"),
]


@pytest.mark.parametrize(("entry", "reason"), REFUSED_CASES)
async def test_unsafe_or_invalid_entries_refused(
    blocklist: BlocklistStore, db: Database, entry, reason
) -> None:
    """Invalid and potentially catastrophic regexes are refused with a reason, and not stored."""
    with pytest.raises(InvalidSetting, match=reason):
        await blocklist.add(GUILD, entry, actor_id=ADMIN, now=NOW)
    assert await blocklist.entries(GUILD) == []
    assert await recent(db, GUILD) == []


ACCEPTED_CASES = [
    "re:foo.*bar",
    "re:colou?r",
    "re:\\bnsfw\\b",
    "re:a.{0,20}b\\s{1,3}c",
    "re:(?:ab)+",
    "re:(?i)(?:cat|dog)s?",
]


@pytest.mark.parametrize("entry", ACCEPTED_CASES)
def test_reasonable_regexes_accepted(entry) -> None:
    """Everyday patterns pass the static check."""
    assert regex_cost(entry.removeprefix("re:")) >= 1


async def test_guild_regex_budget(blocklist: BlocklistStore) -> None:
    """A guild's regexes together stay within a budget; words don't count against it."""
    cost = regex_cost("x.*y")
    added = 0
    while (added + 1) * cost <= MAX_GUILD_REGEX_COST:
        await blocklist.add(GUILD, f"re:x{added}.*y", actor_id=ADMIN, now=NOW)
        added += 1
    with pytest.raises(InvalidSetting, match="together"):
        await blocklist.add(GUILD, "re:z.*y", actor_id=ADMIN, now=NOW)
    await blocklist.add(GUILD, "plain word", actor_id=ADMIN, now=NOW)


async def test_long_prompt_against_worst_allowed_regex(blocklist: BlocklistStore) -> None:
    """The costliest accepted regex still answers quickly on a 5000-character prompt."""
    await blocklist.add(GUILD, "re:.*x", actor_id=ADMIN, now=NOW)
    started = time.perf_counter()
    assert await blocklist.check(GUILD, "a" * 5000) is None
    # Generous bound: this guards against minutes, not milliseconds.
    assert time.perf_counter() - started < 5


async def test_add_remove_list_and_cache(blocklist: BlocklistStore, db: Database) -> None:
    """Writes refresh the compiled cache; duplicates and unknown removals are refused."""
    assert await blocklist.check(GUILD, "a dragon") is None
    await blocklist.add(GUILD, "  Dragon ", actor_id=ADMIN, now=NOW)
    assert await blocklist.check(GUILD, "a dragon") == "dragon"
    with pytest.raises(InvalidSetting, match="already"):
        await blocklist.add(GUILD, "DRAGON", actor_id=ADMIN, now=NOW)
    await blocklist.add(GUILD, "re:wyrm", actor_id=ADMIN, now=NOW + 1)
    assert await blocklist.entries(GUILD) == ["dragon", "re:wyrm"]
    assert await blocklist.check(GUILD + 1, "a dragon") is None  # per guild
    change = await blocklist.remove(GUILD, "dragon", actor_id=ADMIN, now=NOW + 2)
    assert (change.old, change.new) == ("dragon", None)
    assert await blocklist.check(GUILD, "a dragon") is None
    with pytest.raises(InvalidSetting, match="isn't on the blocklist"):
        await blocklist.remove(GUILD, "dragon", actor_id=ADMIN, now=NOW)
    entries = await recent(db, GUILD)
    assert [(e.action, e.old, e.new) for e in entries] == [
        ("blocklist.remove", "dragon", None),
        ("blocklist.add", None, "re:wyrm"),
        ("blocklist.add", None, "dragon"),
    ]
