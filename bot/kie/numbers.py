"""Read the numbers in kie's task records exactly, and never let a wrong one fail a record.

kie has been seen to send times and charges as text, fractions, NaN or absurd exponents. A
nonsensical time becomes None and a nonsensical charge becomes 0, with a warning
(docs/kie-api.md §4): the record is still good, and a charge read as 0 is checked by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from bot.credits import as_credits
from bot.kie.exact_json import snippet

__all__ = [
    "MAX_COST_SECONDS",
    "MAX_EPOCH_MS",
    "MAX_TASK_CREDITS",
    "absent",
    "epoch_ms",
    "exact_number",
    "optional_whole",
    "task_credits",
]

log = logging.getLogger(__name__)

# No single Seedream task costs anything near this (about 5 credits an image); a larger
# creditsConsumed is nonsense and is read as 0 (docs/kie-api.md §4).
MAX_TASK_CREDITS = Decimal(1_000_000)
# Epoch milliseconds up to 9999-12-31T23:59:59.999Z, what a datetime can hold.
MAX_EPOCH_MS = 253_402_300_799_999
# costTime in seconds; anything beyond a 32-bit count (68 years) is nonsense.
MAX_COST_SECONDS = 2**31 - 1


def absent(value: Any) -> bool:
    """Tell whether a record field is missing: kie sends null and "" alike for that."""
    return value is None or value == ""


def exact_number(value: Any) -> Decimal | None:
    """Return a JSON number (or numeric string) as an exact finite Decimal, else None.

    None for bool, NaN, ±Infinity, text that is not a number, and every other type. A float
    (from a body decoded elsewhere) is read through its shortest repr, so 0.8 stays 0.8.
    """
    try:
        return as_credits(value)
    except (TypeError, ValueError, InvalidOperation):
        return None


def optional_whole(
    data: Mapping[str, Any], key: str, *, least: int, most: int, task_id: str
) -> int | None:
    """Read a count of seconds or milliseconds; None when absent or nonsense.

    Fractions are rounded. Nonsense (text, NaN, 1e400, out of [least, most]) is logged and
    read as None: a wrong clock field never fails an otherwise good record.
    """
    value = data.get(key)
    if absent(value):
        return None
    number = exact_number(value)
    # Compared as Decimal before any int(): int(Decimal("1e999999999")) would never finish.
    if number is None or not least <= number <= most:
        log.warning("kie task %s: ignoring nonsensical %s %s", task_id, key, snippet(repr(value)))
        return None
    return int(number.to_integral_value(rounding=ROUND_HALF_EVEN))


def epoch_ms(data: Mapping[str, Any], key: str, task_id: str) -> int | None:
    """Read an epoch-milliseconds time; None when absent, zero, negative or past year 9999."""
    return optional_whole(data, key, least=1, most=MAX_EPOCH_MS, task_id=task_id)


def task_credits(data: Mapping[str, Any], task_id: str) -> Decimal:
    """Read creditsConsumed (or the older consumeCredits) exactly; 0 when neither is present.

    The first of the two keys that is present and not null decides. A value that is not a
    number, or is NaN, Infinity, negative or above MAX_TASK_CREDITS, is logged as a warning
    and read as 0: kie's record is still good, but its charge is unknown and must be checked
    by hand (docs/kie-api.md §4).
    """
    for key in ("creditsConsumed", "consumeCredits"):
        value = data.get(key)
        if absent(value):
            continue
        number = exact_number(value)
        if number is None or not 0 <= number <= MAX_TASK_CREDITS:
            log.warning(
                "kie task %s: %s %s is not a sane charge; read as 0, check kie's billing",
                task_id,
                key,
                snippet(repr(value)),
            )
            return Decimal(0)
        # Decimal("-0") and Decimal("0.0") are read as a plain 0.
        return number if number else Decimal(0)
    return Decimal(0)
