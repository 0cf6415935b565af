"""Benchmarks that print figures; none of them asserts anything about time."""
