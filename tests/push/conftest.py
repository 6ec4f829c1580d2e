"""Web Push tests: the app with PUSH_CONFIG (tests/support/push.py) and a loopback push service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.support.push import PUSH_CONFIG, VAPID_PUBLIC, PushService
from tests.support.servers import make_test_config


@pytest.fixture
def app_config(tmp_path: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("realtime_config")
    return make_test_config(tmp_path, **{**PUSH_CONFIG, **(marker.kwargs if marker else {})})


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService(VAPID_PUBLIC)
    yield service
    service.stop()


@pytest.fixture
def sender(app: Flask) -> Iterator[Any]:
    """The app's push sender, stopped after the test."""
    sender = app.extensions["push"].sender
    yield sender
    sender.stop()
