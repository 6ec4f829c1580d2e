"""Web Push tests: a fixed VAPID key, http:// and loopback endpoints allowed, fast retries, a
loopback push service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from tests.push.pushservice import PushService, b64url
from tests.support.servers import make_test_config

_KEY = ec.generate_private_key(ec.SECP256R1())
#: The application server's VAPID key for every push test: base64url of the private number.
VAPID_PRIVATE = b64url(_KEY.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PUBLIC = b64url(_KEY.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint))
PUSH_CONFIG = {"PUSH_VAPID_PRIVATE_KEY": VAPID_PRIVATE, "PUSH_ALLOW_HTTP": True,
               "PUSH_ALLOW_PRIVATE_ADDRESSES": True,
               "PUSH_RETRY_DELAY": 0.05, "PUSH_MAX_ATTEMPTS": 3, "PUSH_TIMEOUT": 5.0,
               "PUSH_VAPID_SUBJECT": "mailto:push-tests@itcook.example"}


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
