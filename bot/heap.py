"""The garbage collector, set for a process that holds thousands of waiting jobs.

A CPython collection stops the event loop while it walks the objects of the generations it
collects, and a full one walks every object the process holds. With the collector's
defaults, a burst of 3,000 /imagine at 500 a second set off about 250 collections in 6 s, the
full ones taking up to 80 ms; every interaction waiting meanwhile was acknowledged that much
later (bench/line_bench.py prints the collections of a burst). So, once the bot is built:

- what exists by then (modules, classes, functions: some 65,000 objects that live as long as
  the process) is frozen out of every later collection;
- young objects are collected every 10,000 allocations instead of 700, so the short-lived
  objects of a request mostly die before a collection has to walk them.

The same burst then set off about 12 collections, none of them full.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Freeze what exists now out of later collections and collect young objects less often."""
    gc.collect()  # what is garbage already is not frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
