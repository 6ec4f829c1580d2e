"""Test helpers: a real WebSocket client (the ``websockets`` library) and users made through REST."""

from __future__ import annotations

import json
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect


class Client:
    """A connected WebSocket client with frame helpers; every wait is bounded."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.stash: list[dict[str, Any]] = []  # frames skipped by recv_type, returned first by recv

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        self.conn.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame that is not a Heartbeat."""
        if self.stash:
            return self.stash.pop(0)
        return self._recv_wire(timeout)

    def recv_type(self, frame_type: str, timeout: float = 5.0, limit: int = 100) -> dict[str, Any]:
        """The next frame of ``frame_type``; others are kept for ``recv`` (bounded by ``limit``)."""
        for index, frame in enumerate(self.stash):
            if frame["type"] == frame_type:
                return self.stash.pop(index)
        skipped = []
        try:
            for _ in range(limit):
                frame = self._recv_wire(timeout)
                if frame["type"] == frame_type:
                    return frame
                skipped.append(frame)
        finally:
            self.stash.extend(skipped)
        raise AssertionError(f"no {frame_type} within {limit} frames")

    def _recv_wire(self, timeout: float) -> dict[str, Any]:
        while True:
            frame = json.loads(self.conn.recv(timeout=timeout))
            if frame["type"] != "Heartbeat":
                return frame

    def assert_silent(self, timeout: float = 0.3) -> None:
        """Nothing but heartbeats arrives within ``timeout`` (used only to show absence)."""
        try:
            frame = self.recv(timeout)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    def subscribe(self, *channels: str) -> dict[str, Any]:
        self.send({"type": "Subscribe", "channels": list(channels)})
        return self.recv_type("Subscribed")

    def close(self) -> None:
        self.conn.close()


def ws_connect(server: Any, token: str | None = None, *, query: str = "",
               headers: dict[str, str] | None = None, subprotocols: list[str] | None = None,
               origin: str | None = None) -> Client:
    """Open a WebSocket to ``server`` (bearer header when ``token`` is given)."""
    extra = dict(headers or {})
    if token:
        extra["Authorization"] = f"Bearer {token}"
    conn = connect(server.ws_url + query, additional_headers=extra, open_timeout=5,
                   close_timeout=2, subprotocols=subprotocols, origin=origin,
                   compression=None, max_size=2**22, legacy=True)
    return Client(conn)


class Api:
    """REST calls against the live server, the way a real client makes them."""

    def __init__(self, server: Any) -> None:
        self.base = server.url + "/api/v1"
        self.http = requests.Session()

    def register(self, username: str, password: str = "secret123") -> dict[str, Any]:
        response = self.http.post(f"{self.base}/auth/register",
                                  json={"username": username, "password": password}, timeout=10)
        assert response.status_code == 201, response.text
        user = response.json()
        user["headers"] = {"Authorization": f"Bearer {user['access_token']}"}
        return user

    def call(self, method: str, path: str, user: dict[str, Any] | None = None,
             expect: int | None = None, **kwargs: Any) -> requests.Response:
        headers = user["headers"] if user else {}
        response = self.http.request(method, f"{self.base}{path}", headers=headers, timeout=10, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.text)
        return response
