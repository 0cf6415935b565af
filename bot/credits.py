"""Amounts of kie.ai credits: exact decimals in Python, whole thousandths when stored or counted.

kie charges fractions of a credit (creditsConsumed 0.8 and 5.5 have been seen, and a balance
can be fractional too: docs/kie-api.md §4 and §5), and the admin pays for every one of them.
Binary floats cannot hold 0.1 or 0.8, so sums of them drift (a thousand 0.1s make
99.9999999999986). Here an amount is a `decimal.Decimal`. Where it leaves Python it becomes a
whole number of thousandths of a credit: a BIGINT column on both database backends (SQLite has
no decimal type, see bot/store/migrations/V4__exact_credits.sql) and an integer-valued
Prometheus counter (bot/metrics.py). Integers add exactly in SQL and in a float64 counter (up to
2**53).
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_EVEN, Decimal

__all__ = [
    "THOUSANDTHS_PER_CREDIT",
    "as_credits",
    "format_credits",
    "from_thousandths",
    "to_thousandths",
]

log = logging.getLogger(__name__)

THOUSANDTHS_PER_CREDIT = 1000


def as_credits(value: Decimal | int | float | str) -> Decimal:
    """Return `value` as an exact Decimal; a float is read as its shortest text, so 0.8 is 0.8.

    TypeError for bool and non-numbers, ValueError for NaN and ±Infinity, and
    decimal.InvalidOperation for text that is not a number (bot/kie/numbers.py relies on it).
    """
    if isinstance(value, bool):
        raise TypeError(f"not an amount of credits: {value!r}")
    if isinstance(value, Decimal):
        exact = value
    elif isinstance(value, int):
        exact = Decimal(value)
    elif isinstance(value, float):
        # Decimal(0.8) would be 0.8000000000000000444…; repr gives the "0.8" kie sent.
        exact = Decimal(repr(value))
    elif isinstance(value, str):
        exact = Decimal(value.strip())
    else:
        raise TypeError(f"not an amount of credits: {value!r}")
    if not exact.is_finite():
        raise ValueError(f"not an amount of credits: {value!r}")
    return exact


def to_thousandths(value: Decimal | int | float | str) -> int:
    """Return `value` in whole thousandths of a credit (a finer fraction rounds half-even)."""
    scaled = as_credits(value) * THOUSANDTHS_PER_CREDIT
    whole = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
    if whole != scaled:
        # No kie charge has been finer than a tenth; say so if one ever is.
        log.warning(
            "%s credits are finer than a thousandth; recorded as %s",
            value,
            from_thousandths(int(whole)),
        )
    return int(whole)


def from_thousandths(count: int) -> Decimal:
    """Return the exact amount `count` thousandths make, in its shortest form (5500 → 5.5)."""
    exact = Decimal(int(count)).scaleb(-3)
    if exact == exact.to_integral_value():
        return exact.quantize(Decimal(1))  # 10, not 10.000 or 1E+1
    return exact.normalize()  # 5.5, not 5.500


def format_credits(value: Decimal | int | float | str) -> str:
    """Return the amount as people write it: every digit, no exponent, no trailing zeros."""
    text = f"{as_credits(value):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
