"""What the server counted: deltas of ``GET /api/v1/realtime/stats`` over a test."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.support.rest import Api

STATS_KEYS = ("errors_by_code", "disconnects_by_reason", "handshake_failures_by_reason")


class StatsProbe:
    """Reads ``GET /api/v1/realtime/stats`` and reports what changed since it was made."""

    def __init__(self, api: Api, user: dict[str, Any]) -> None:
        self.api, self.user = api, user
        self.base = self.read()

    def read(self) -> dict[str, Counter[str]]:
        """The counters of ``STATS_KEYS`` now."""
        body = self.api.call("GET", "/realtime/stats", self.user, expect=200).json()
        return {key: Counter(body.get(key, {})) for key in STATS_KEYS}

    def delta(self) -> dict[str, dict[str, int]]:
        """What each counter gained since the probe was made (zero entries left out)."""
        now = self.read()
        out = {}
        for key in STATS_KEYS:
            diff = now[key] - self.base[key]
            out[key] = {k: v for k, v in diff.items() if v}
        return out
