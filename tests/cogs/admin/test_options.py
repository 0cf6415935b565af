"""The option rules of `channel set` and `quota clear`, checked before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from bot.control import KEEP
from bot.errors import UserFacingError
from cogs.admin._channel import CLEARABLE, settings_to_write
from cogs.admin._quota import check_clear_target

NOTHING = dict.fromkeys(CLEARABLE)

WRITE_CASES: list[tuple[str, dict[str, Any], str | None, dict[str, Any]]] = [
    ("set one", {"images": 2}, None, {"images": 2}),
    ("clear one", {}, "max_images", {"max_images": None}),
    ("clear all", {}, "all", dict.fromkeys(CLEARABLE)),
    (
        "clear all, then set",
        {"safety": False},
        "all",
        {**dict.fromkeys(CLEARABLE), "safety": False},
    ),
    ("clear by option name", {}, "size", {"image_size": None}),
]


@pytest.mark.parametrize(
    ("given", "clear", "changed"),
    [(g, c, w) for _, g, c, w in WRITE_CASES],
    ids=[case for case, *_ in WRITE_CASES],
)
def test_settings_to_write(
    given: dict[str, Any], clear: str | None, changed: dict[str, Any]
) -> None:
    """Given values are written, cleared ones become None, everything else is kept."""
    values = settings_to_write({**NOTHING, **given}, clear)
    assert {k: v for k, v in values.items() if v is not KEEP} == changed


@pytest.mark.parametrize(
    ("given", "clear", "refusal"),
    [
        ({}, None, "at least one setting"),
        ({"images": 2}, "images", "both set and cleared `images`"),
    ],
)
def test_settings_to_write_refuses(given: dict[str, Any], clear: str | None, refusal: str) -> None:
    """Nothing to do, or setting and clearing the same value, is refused."""
    with pytest.raises(UserFacingError, match=refusal):
        settings_to_write({**NOTHING, **given}, clear)


CLEAR_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("default", {}, None),
    ("server", {}, None),
    ("role", {"role": object()}, None),
    ("member", {"member": object()}, None),
    ("role", {}, "also give the `role` option"),
    ("channel", {"channel": object(), "role": object()}, "takes only the `channel` option"),
    ("server", {"member": object()}, "takes no member option"),
]


@pytest.mark.parametrize(("kind", "given", "refusal"), CLEAR_CASES)
def test_check_clear_target(kind: str, given: dict[str, Any], refusal: str | None) -> None:
    """Each scope takes exactly the option that names its target, and no other."""
    targets = {"role": None, "member": None, "channel": None, **given}
    if refusal is None:
        check_clear_target(kind, targets)
    else:
        with pytest.raises(UserFacingError, match=refusal):
            check_clear_target(kind, targets)
