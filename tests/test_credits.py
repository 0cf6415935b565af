"""Credit amounts: exact in Python, whole thousandths in storage, written out in full."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.credits import as_credits, format_credits, from_thousandths, to_thousandths

AMOUNTS = [
    # as kie or the database gives it, thousandths, the exact Decimal back, as shown
    (Decimal("5.5"), 5500, "5.5", "5.5"),
    (0.8, 800, "0.8", "0.8"),
    (5, 5000, "5", "5"),
    (Decimal("4.0"), 4000, "4", "4"),
    (Decimal("1E+1"), 10_000, "10", "10"),
    ("12.250", 12_250, "12.25", "12.25"),
    (0, 0, "0", "0"),
    (Decimal("0.001"), 1, "0.001", "0.001"),
    (Decimal("1234567.5"), 1_234_567_500, "1234567.5", "1234567.5"),
]


@pytest.mark.parametrize(("amount", "thousandths", "exact", "shown"), AMOUNTS)
def test_amounts_convert_exactly(amount, thousandths, exact, shown) -> None:
    """Each amount becomes whole thousandths and comes back as the same exact number."""
    assert to_thousandths(amount) == thousandths
    back = from_thousandths(thousandths)
    assert back == as_credits(amount)
    assert str(back) == exact
    assert format_credits(amount) == shown
    assert format_credits(back) == shown


def test_a_float_is_read_as_the_number_it_prints() -> None:
    """0.8 from JSON is 0.8 credits, not the binary float's 0.8000000000000000444…."""
    assert as_credits(0.8) == Decimal("0.8")
    assert Decimal(0.8) != Decimal("0.8")  # noqa: RUF032 - the trap as_credits avoids


def test_many_small_charges_sum_exactly() -> None:
    """A thousand 0.1s and three 5.5s are 116.5, in thousandths and in Decimals."""
    charges = [Decimal("0.1")] * 1000 + [Decimal("5.5")] * 3
    assert sum(to_thousandths(c) for c in charges) == 116_500
    assert format_credits(from_thousandths(116_500)) == "116.5"
    assert format_credits(sum(charges, Decimal(0))) == "116.5"
    assert sum([0.1] * 1000) + 3 * 5.5 != 116.5  # the float sum this replaces


def test_finer_than_a_thousandth_rounds_half_even_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fraction finer than a thousandth (none seen from kie) rounds, with a warning."""
    assert to_thousandths(Decimal("1.2345")) == 1234
    assert to_thousandths(Decimal("1.2355")) == 1236
    assert "finer than a thousandth" in caplog.text


@pytest.mark.parametrize("bad", [True, None, Decimal("NaN"), Decimal("Infinity"), float("inf")])
def test_non_amounts_are_refused(bad) -> None:
    """Booleans, None and non-finite numbers are not amounts of credits."""
    with pytest.raises((TypeError, ValueError)):
        as_credits(bad)
