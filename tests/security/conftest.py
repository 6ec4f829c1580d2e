"""Hostile-input tests: a bystander client that each test proves undisturbed, and the users
that read /stats. Hypothesis settings, /stats deltas and raw frames live in tests/support."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from itcook.realtime.events import Event
from tests.support.rest import Api
from tests.support.ws import Client, ws_connect


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
