"""The app under test: its config, and the app served by a real gevent server in this process."""

from __future__ import annotations

import os
import socket
from typing import Any

from flask import Flask

TEST_DATABASE_URL = os.environ.get("ITCOOK_TEST_DATABASE_URL", "")


def make_test_config(tmp_path: Any, **overrides: Any) -> dict[str, Any]:
    """The config every test app starts from: its own database, no background jobs."""
    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.db'}"
    config = {
        "TESTING": True,
        "DATABASE_URL": url,
        "JWT_SECRET": "test-secret-" + "x" * 40,
        "EXPIRY_SCAN_INTERVAL": 0.0,
        "LOG_LEVEL": "WARNING",
        # Cheap argon2id parameters: the tests hash hundreds of passwords (100 ms each by default).
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_KIB": 1024,
        "ARGON2_PARALLELISM": 1,
        # The tests register and log in hundreds of users from 127.0.0.1; test_auth_throttle.py
        # puts the real limits back.
        "AUTH_LIMIT_PER_ADDRESS": "100000/minute",
        "AUTH_LIMIT_PER_ACCOUNT": "100000/minute",
    }
    config.update(overrides)
    return config


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at ``host``:``port`` (within a second)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class LiveServer:
    """The app served by gevent's WSGI server on a free loopback port, in this process."""

    def __init__(self, app: Flask) -> None:
        from itcook.serving import make_server

        self.app = app
        # The server `python wsgi.py` runs (request heads bounded by HTTP_HEADER_TIMEOUT).
        self.server = make_server(app, "127.0.0.1", 0)
        self.server.start()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/v1/realtime/ws"

    @property
    def state(self) -> Any:
        """The app's realtime extension."""
        return self.app.extensions["realtime"]

    def stop(self) -> None:
        """Shut the realtime layer down, then the server."""
        self.state.shutdown()
        self.server.stop(timeout=2)
