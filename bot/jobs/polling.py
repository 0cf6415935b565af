"""When to ask kie about a task: densely where it is likely to finish, sparsely elsewhere.

Fixed 3 s polling spends ~9 calls on a 25 s job and notices its end ~1.5 s late on average.
Recent jobs of the same size, resolution and count tell us when this one will likely end,
so we check once early (to show progress), then every ~1 s across the window where recent
jobs finished, then back off as kie's docs recommend (every 5-10 s, 15-30 s after 2 min).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["GIVE_UP_AFTER", "PollPlan"]

# kie's docs: stop polling after 10-15 min; upstream stalls surface as 408 after 10 min.
GIVE_UP_AFTER = 15 * 60.0
# Without history: Seedream 4.0 took 24 s in kie's one documented example (1K, 1 image).
DEFAULT_EXPECTED = {"1K": 25.0, "2K": 30.0, "4K": 45.0}
DENSE_INTERVAL = 1.0
MAX_DENSE_POLLS = 5
# With callbacks the poll is only a safety net, so it can be much sparser.
SAFETY_NET_INTERVAL = 20.0


@dataclass(frozen=True, slots=True)
class PollPlan:
    """A schedule of recordInfo calls for one task, in seconds since it was submitted."""

    first_check: float
    window_start: float
    window_end: float
    interval: float
    callbacks: bool = False

    @classmethod
    def from_history(
        cls,
        durations: Sequence[float],
        *,
        resolution: str,
        images: int,
        callbacks: bool = False,
        default_expected: Mapping[str, float] = DEFAULT_EXPECTED,
    ) -> PollPlan:
        """Plan from how long recent jobs of the same shape took."""
        recent = sorted(d for d in durations if 0 < d < GIVE_UP_AFTER)
        if len(recent) >= 3:
            # Skip the fastest and slowest tenth so one outlier doesn't stretch the window.
            cut = len(recent) // 10
            lo, hi = recent[cut], recent[len(recent) - 1 - cut]
            lo = min(lo, statistics.median(recent) - 0.5)
        else:
            expected = default_expected.get(resolution, 30.0) * (1 + 0.1 * (images - 1))
            lo, hi = expected * 0.6, expected * 1.4
        # Half a second of slack each side, but never a window shorter than one interval.
        lo = max(lo - 0.5, min(lo, 1.0))
        hi = max(hi + 0.5, lo)
        interval = max(min(DENSE_INTERVAL, hi / 4), (hi - lo) / MAX_DENSE_POLLS)
        return cls(
            first_check=min(5.0, lo / 2),
            window_start=lo,
            window_end=hi + interval,
            interval=interval,
            callbacks=callbacks,
        )

    def next_check(self, elapsed: float) -> float:
        """Return when (seconds since submit) to check next, given `elapsed` seconds now."""
        if self.callbacks:
            # The callback wakes us; polls only catch a callback that never comes.
            return max(elapsed + SAFETY_NET_INTERVAL, self.window_end + 2.0)
        if elapsed < self.first_check:
            return self.first_check
        if elapsed < self.window_start:
            return self.window_start
        if elapsed < self.window_end:
            return elapsed + self.interval
        late = elapsed - self.window_end
        # Back off: 2 s just after the window, ~10 s after a minute, 30 s after two.
        return elapsed + min(30.0, 2.0 + late / 6)
