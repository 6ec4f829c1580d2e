"""Hostile-input tests: settings for hypothesis, a bystander client, /stats deltas, raw frames.

Every property runs derandomized (the same examples on every run, so CI is reproducible)
with a modest number of examples; ``ITCOOK_FUZZ_RANDOM=1`` draws fresh examples instead and
``ITCOOK_FUZZ_SCALE=4`` runs four times as many (for a longer hunt by hand).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from itcook.realtime.events import Event
from tests.support.rest import Api
from tests.support.ws import Client, ws_connect

STATS_KEYS = ("errors_by_code", "disconnects_by_reason", "handshake_failures_by_reason")


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings of one property: bounded, reproducible, no example database."""
    scale = float(os.environ.get("ITCOOK_FUZZ_SCALE", "1"))
    return settings(
        max_examples=max(1, int(max_examples * scale)),
        derandomize=os.environ.get("ITCOOK_FUZZ_RANDOM", "") != "1",
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    )


class StatsProbe:
    """Reads ``GET /api/v1/realtime/stats`` and reports what changed since ``start``."""

    def __init__(self, api: Api, user: dict[str, Any]) -> None:
        self.api, self.user = api, user
        self.base = self.read()

    def read(self) -> dict[str, Counter[str]]:
        body = self.api.call("GET", "/realtime/stats", self.user, expect=200).json()
        return {key: Counter(body.get(key, {})) for key in STATS_KEYS}

    def delta(self) -> dict[str, dict[str, int]]:
        now = self.read()
        out = {}
        for key in STATS_KEYS:
            diff = now[key] - self.base[key]
            out[key] = {k: v for k, v in diff.items() if v}
        return out


class Bystander:
    """A well-behaved client of another user, connected for the whole test.

    ``assert_unaffected`` publishes a system notification through the real publish path and
    proves the bystander still receives it: nothing the attacker did disturbed it.
    """

    def __init__(self, server: Any, api: Api) -> None:
        self.server = server
        self.user = api.register("bystander")
        self.client: Client = ws_connect(server, self.user["access_token"])

    def assert_unaffected(self) -> None:
        title = f"still-here-{uuid.uuid4().hex[:8]}"
        self.server.state.publish_event(Event(type="SystemNotification", channel="system",
                                              data={"title": title, "message": "m", "level": "info"}))
        for _ in range(20000):  # bounded: skip whatever else the bystander was sent meanwhile
            frame = self.client.recv(timeout=5)
            if frame["type"] == "SystemNotification" and frame["data"].get("title") == title:
                return
        raise AssertionError("the bystander never received the notification")

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def api(live_server: Any) -> Api:
    return Api(live_server)


@pytest.fixture
def bystander(live_server: Any, api: Api) -> Iterator[Bystander]:
    """A connected client of another user; each test ends by proving it was not disturbed."""
    watcher = Bystander(live_server, api)
    yield watcher
    watcher.close()


@pytest.fixture
def observer(api: Api) -> dict[str, Any]:
    """A user whose token reads /stats (registered before the test's baseline is taken)."""
    return api.register("observer")
