"""Recent activity in fixed time buckets, for the status page's charts — no Flask imports.

Buckets are aligned to multiples of ``step`` seconds of wall-clock time, so the buckets of
several processes line up and their counts add up (``stats.merge_snapshots`` sums dict values
key by key). Counting is one dict update per published event; nothing runs in the background.
"""

from __future__ import annotations

import time
from collections import OrderedDict

#: Seconds per bucket and buckets kept: 10 minutes of history.
STEP = 5
BUCKETS = 120


class Timeline:
    """Per-bucket totals of a few named series (events, deliveries)."""

    def __init__(self, names: tuple[str, ...] = ("events", "deliveries"), step: int = STEP,
                 buckets: int = BUCKETS) -> None:
        self.names = names
        self.step = step
        self.buckets = buckets
        # bucket start (epoch seconds) -> one count per name, oldest first
        self._data: OrderedDict[int, list[int]] = OrderedDict()

    def add(self, *counts: int, now: float | None = None) -> None:
        """Add ``counts`` (one per name) to the bucket of ``now``."""
        start = int(time.time() if now is None else now) // self.step * self.step
        row = self._data.get(start)
        if row is None:
            row = self._data[start] = [0] * len(self.names)
            while len(self._data) > self.buckets:
                self._data.popitem(last=False)
        for index, count in enumerate(counts):
            row[index] += count

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{name: {"<bucket start>": count}}``: flat, JSON-safe, and summable across processes."""
        return {name: {str(start): row[index] for start, row in self._data.items() if row[index]}
                for index, name in enumerate(self.names)}


def series(counts: dict[str, int], step: int = STEP, buckets: int = BUCKETS,
           now: float | None = None) -> list[list[float]]:
    """``[[bucket start, per-second rate], ...]`` over the last ``buckets`` buckets, gaps as 0.

    The current bucket is still filling, so it is left out: a chart would show a false dip.
    """
    last = int(time.time() if now is None else now) // step * step - step
    first = last - (buckets - 1) * step
    return [[start, round(counts.get(str(start), 0) / step, 3)] for start in range(first, last + 1, step)]
