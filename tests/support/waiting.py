"""Bounded waits: on a condition, and on calls run side by side. Nothing here waits forever."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent


def wait_for(predicate: Any, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true, yielding to the server's greenlets; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        gevent.sleep(0.01)


def concurrently(count: int, call: Callable[[int], Any], timeout: float = 60.0) -> list[Any]:
    """Run ``call(0)`` … ``call(count - 1)`` in as many greenlets at once; their results, in order."""
    greenlets = [gevent.spawn(call, i) for i in range(count)]
    gevent.joinall(greenlets, timeout=timeout, raise_error=True)
    assert all(g.ready() for g in greenlets), f"concurrent calls still running after {timeout} s"
    return [g.value for g in greenlets]
