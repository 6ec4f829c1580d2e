"""Benchmark harness of the real-time layer (issue 7): ``make bench`` or ``python -m bench.run``."""
