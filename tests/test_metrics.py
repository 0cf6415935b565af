"""Metrics: kie's credits are counted in whole thousandths, so the float counter stays exact."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import REGISTRY

from bot import metrics

NAME = "imagine_kie_millicredits_consumed_total"


def _counted() -> float:
    return REGISTRY.get_sample_value(NAME) or 0.0


def test_credits_counter_counts_exact_thousandths() -> None:
    """A thousand 0.1s and three 5.5s move the counter by exactly 116500 thousandths."""
    before = _counted()
    for _ in range(1000):
        metrics.CREDITS_CONSUMED.inc(Decimal("0.1"))
    for _ in range(3):
        metrics.CREDITS_CONSUMED.inc(5.5)  # a float from kie's JSON is read as 5.5
    moved = _counted() - before
    assert moved == 116_500
    assert moved.is_integer()
