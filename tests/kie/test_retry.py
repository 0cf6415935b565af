"""Tests for the retry policy's numbers."""

from __future__ import annotations

import pytest

from bot.kie import (
    KieError,
    KieFeatureDisabled,
    KieGenerationFailed,
    KieMaintenance,
    KieRateLimited,
    KieServerError,
    KieUnauthorized,
    KieValidationError,
    RetryPolicy,
)
from bot.kie.retry import is_retryable_read_error


def test_backoff_is_exponential_capped_and_bounded() -> None:
    """Delays double from 0.5 s, stop at the cap, and run out after max_retries."""
    policy = RetryPolicy(rand=lambda: 1.0)
    assert [policy.delay(n) for n in range(4)] == [0.5, 1.0, 2.0, None]
    long = RetryPolicy(max_retries=10, rand=lambda: 1.0)
    assert long.delay(4) == 8.0
    assert long.delay(9) == 8.0


def test_full_jitter_scales_the_delay() -> None:
    """Full jitter draws the delay uniformly below the exponential bound."""
    assert RetryPolicy(rand=lambda: 0.0).delay(2) == 0.0
    assert RetryPolicy(rand=lambda: 0.25).delay(2) == 0.5


def test_retry_after_rules() -> None:
    """Retry-After up to 60 s replaces the delay; a longer one ends retrying."""
    policy = RetryPolicy(rand=lambda: 1.0)
    assert policy.delay(0, retry_after=12.0) == 12.0
    assert policy.delay(0, retry_after=60.0) == 60.0
    assert policy.delay(0, retry_after=61.0) is None
    assert policy.delay(3, retry_after=1.0) is None


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (KieRateLimited(429, "x"), True),
        (KieMaintenance(455, "x"), True),
        (KieServerError(500, "x"), True),
        (KieServerError(503, "x"), True),
        (KieGenerationFailed(501, "x"), False),
        (KieFeatureDisabled(505, "x"), False),
        (KieUnauthorized(401, "x"), False),
        (KieValidationError(422, "x"), False),
        (KieError(418, "x"), False),
    ],
)
def test_read_retry_classes(exc: KieError, retry: bool) -> None:
    """Reads retry on 429, 455 and 5xx only."""
    assert is_retryable_read_error(exc) is retry
