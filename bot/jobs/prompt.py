"""The prompt kie receives: the member's own, plus a count sentence when asking for several.

kie's Seedream docs: "you must also state the exact number you want in the prompt" when
max_images > 1. The member's prompt is what we show and store; this is only what we send.
"""

from __future__ import annotations

import re

from bot.kie import MAX_PROMPT_CHARS

__all__ = ["prompt_for_kie"]

_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _names_count(prompt: str, images: int) -> bool:
    word = _NUMBER_WORDS.get(images, "")
    pattern = rf"\b({images}|{word})\b" if word else rf"\b{images}\b"
    return re.search(pattern, prompt, flags=re.IGNORECASE) is not None


def prompt_for_kie(prompt: str, images: int) -> str:
    """Return the prompt to send: trimmed, with the image count stated when it isn't."""
    prompt = prompt.strip()
    if images <= 1 or _names_count(prompt, images):
        return prompt
    sentence = f"Generate {images} separate images."
    joined = (
        f"{prompt.rstrip()} {sentence}"
        if prompt.endswith((".", "!", "?"))
        else (f"{prompt}. {sentence}")
    )
    # Never cut the member's words to make room; kie may then return fewer images,
    # and the quota is settled to what it returns.
    return joined if len(joined) <= MAX_PROMPT_CHARS else prompt
