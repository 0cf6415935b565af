"""The prompt sent to kie names the image count when asking for several."""

from __future__ import annotations

import pytest

from bot.jobs.prompt import prompt_for_kie


@pytest.mark.parametrize(
    ("prompt", "images", "expected"),
    [
        ("a red fox", 1, "a red fox"),
        ("  a red fox  ", 1, "a red fox"),
        ("a red fox", 3, "a red fox. Generate 3 separate images."),
        ("a red fox.", 2, "a red fox. Generate 2 separate images."),
        ("four foxes in the snow", 4, "four foxes in the snow"),
        ("draw 6 variations of a fox", 6, "draw 6 variations of a fox"),
        ("a fox with 3 tails", 2, "a fox with 3 tails. Generate 2 separate images."),
    ],
)
def test_count_sentence(prompt: str, images: int, expected: str) -> None:
    """The count is added once, only when missing."""
    assert prompt_for_kie(prompt, images) == expected


def test_never_cuts_a_long_prompt() -> None:
    """A prompt with no room left for the sentence is sent as is."""
    prompt = "x" * 4990
    assert prompt_for_kie(prompt, 3) == prompt
