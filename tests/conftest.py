"""Shared fixtures: the app on SQLite (or ITCOOK_TEST_DATABASE_URL), clients, auth helper."""

from __future__ import annotations

from gevent import monkey

if not monkey.is_module_patched("socket"):  # `make test` patches first; plain `pytest` here
    monkey.patch_all()

from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from itcook import create_app  # noqa: E402
from itcook.extensions import db  # noqa: E402
from itcook.signals import ALL_SIGNALS  # noqa: E402

# The helpers' asserts explain their failures as a test's do (rewritten before the first import).
pytest.register_assert_rewrite("tests.support")

from tests.support.janus import JanusServer, skip_without_janus, start_janus  # noqa: E402
from tests.support.servers import TEST_DATABASE_URL, LiveServer, make_test_config  # noqa: E402
from tests.support.turn import TurnServer, require_turnserver  # noqa: E402


def pytest_report_header(config: pytest.Config) -> str:
    return f"itcook database: {TEST_DATABASE_URL or 'SQLite (temporary file per test)'}"


@pytest.fixture
def app_config(tmp_path: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The test's config; ``@pytest.mark.realtime_config(KEY=value)`` overrides settings."""
    marker = request.node.get_closest_marker("realtime_config")
    return make_test_config(tmp_path, **(marker.kwargs if marker else {}))


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """A fresh app with an empty schema."""
    app = create_app(app_config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    # Its greenlets (dispatcher, sequencer, outbox flusher) would open new connections after the
    # dispose: on PostgreSQL a suite of apps left running exhausts max_connections.
    app.extensions["realtime"].shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


class AuthActions:
    """Register users and build auth headers through the real REST routes."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def register(self, username: str = "anna", password: str = "secret123",
                 display_name: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"username": username, "password": password}
        if display_name:
            body["display_name"] = display_name
        response = self._client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.get_json()
        data = response.get_json()
        data["headers"] = {"Authorization": f"Bearer {data['access_token']}"}
        return data

    def admin(self, app: Flask, username: str = "root") -> dict[str, Any]:
        data = self.register(username)
        from itcook.models import User

        with app.app_context():
            user = db.session.get(User, data["user"]["id"])
            assert user is not None
            user.role = "admin"
            db.session.commit()
        return data


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


class SignalRecorder:
    """Records every domain signal the app sends, as (name, kwargs)."""

    def __init__(self, app: Flask) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._app = app
        for signal in ALL_SIGNALS:
            signal.connect(self._receiver(signal.name), sender=app, weak=False)

    def _receiver(self, name: str) -> Any:
        def receive(sender: Any, **kwargs: Any) -> None:
            self.calls.append((name, kwargs))

        receive.__name__ = f"record_{name}"
        self._handlers = getattr(self, "_handlers", []) + [receive]
        return receive

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for signal_name, kwargs in self.calls if signal_name == name]

    def disconnect(self) -> None:
        for signal, handler in zip(ALL_SIGNALS, self._handlers, strict=True):
            signal.disconnect(handler, sender=self._app)


@pytest.fixture
def signals(app: Flask) -> Iterator[SignalRecorder]:
    recorder = SignalRecorder(app)
    yield recorder
    recorder.disconnect()


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """A real gevent server for WebSocket and SSE tests."""
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def turn(tmp_path: Any) -> Iterator[TurnServer]:
    """coturn on a loopback port (skips without it; fails under ITCOOK_REQUIRE_MEDIA=1)."""
    require_turnserver()
    server = TurnServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def janus_server(tmp_path: Any) -> Iterator[JanusServer]:
    """Janus on loopback ports, configured by the test (skips without it, as ``turn``)."""
    skip_without_janus()
    server = start_janus(tmp_path / "janus")
    yield server
    server.stop()
