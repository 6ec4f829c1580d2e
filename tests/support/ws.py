"""The WebSocket test client: wsproto on one socket, no threads; every read is bounded."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP error instead of 101."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str:
        """The ``error.code`` of the JSON error body."""
        return json.loads(self.body)["error"]["code"]


class ConnectionClosed(Exception):
    """The server closed the WebSocket; ``code`` is its close code (None: TCP closed without one)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class Client:
    """A WebSocket client on wsproto and one (gevent) socket, read only by the caller.

    No background reader: the ``websockets`` sync client polls its socket from a thread, and
    under gevent closing that socket mid-poll leaves libev a watcher on a dead descriptor.
    Every wait here is bounded by ``timeout``.
    """

    def __init__(self, sock: socket.socket, proto: WSConnection, subprotocol: str | None,
                 leftover: list[Any]) -> None:
        self.sock = sock
        self.proto = proto
        self.subprotocol = subprotocol
        self.stash: list[dict[str, Any]] = []  # frames skipped by recv_type, returned first by recv
        self._events: list[Any] = leftover
        self._text: list[str] = []
        self.close_code: int | None = None
        self.pongs: list[bytes] = []

    # -- writing ----------------------------------------------------------------------------
    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        """Send a frame: a dict as JSON text, a str as text, bytes as a binary message."""
        if isinstance(frame, bytes):
            data = self.proto.send(Message(data=frame))
        else:
            text = frame if isinstance(frame, str) else json.dumps(frame)
            data = self.proto.send(TextMessage(data=text))
        self.sock.sendall(data)

    def ping(self, payload: bytes = b"") -> None:
        """Send a WebSocket ping (its pong lands in ``pongs``)."""
        self.sock.sendall(self.proto.send(Ping(payload=payload)))

    def ping_pong(self, payload: bytes, timeout: float = 5.0) -> None:
        """Send a ping and read until its pong (data frames read meanwhile go to ``stash``)."""
        self.ping(payload)
        while True:
            event = self._next_event(timeout)
            if isinstance(event, Pong) and bytes(event.payload) == payload:
                return
            if isinstance(event, TextMessage) and event.message_finished and not self._text:
                frame = json.loads(event.data)
                if frame["type"] != "Heartbeat":
                    self.stash.append(frame)
            elif isinstance(event, CloseConnection):
                raise ConnectionClosed(event.code, event.reason or "")

    # -- reading ----------------------------------------------------------------------------
    def _next_event(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not self._events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no WebSocket frame in time")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError("no WebSocket frame in time") from None
            except ConnectionResetError:
                data = b""
            if not data:
                raise ConnectionClosed(self.close_code, "TCP connection closed")
            self.proto.receive_data(data)
            self._events.extend(self.proto.events())
        return self._events.pop(0)

    def recv_raw(self, timeout: float = 5.0) -> str | bytes:
        """The next complete data message (control frames are handled on the way)."""
        while True:
            event = self._next_event(timeout)
            if isinstance(event, CloseConnection):
                self.close_code = event.code
                try:
                    self.sock.sendall(self.proto.send(event.response()))
                except Exception:
                    pass
                raise ConnectionClosed(event.code, event.reason or "")
            if isinstance(event, Ping):
                self.sock.sendall(self.proto.send(event.response()))
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))
            elif isinstance(event, TextMessage):
                self._text.append(event.data)
                if event.message_finished:
                    text, self._text = "".join(self._text), []
                    return text
            elif isinstance(event, BytesMessage) and event.message_finished:
                return bytes(event.data)

    def _recv_wire(self, timeout: float) -> dict[str, Any]:
        while True:
            frame = json.loads(self.recv_raw(timeout))
            if frame["type"] != "Heartbeat":
                return frame

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

    def recv_until(self, frame_type: str, match: Callable[[dict[str, Any]], bool], timeout: float = 5.0,
                   limit: int = 100, keep: bool = False) -> dict[str, Any]:
        """The next ``frame_type`` frame that ``match``es, within ``limit`` of that type; those
        that do not match are dropped (``keep``: put back for later), other types kept."""
        skipped: list[dict[str, Any]] = []
        try:
            for _ in range(limit):
                frame = self.recv_type(frame_type, timeout)
                if match(frame):
                    return frame
                skipped.append(frame)
        finally:
            if keep:
                self.stash[:0] = skipped
        raise AssertionError(f"no matching {frame_type} within {limit}: {skipped[-3:]}")

    def closed_code(self, timeout: float = 5.0, limit: int = 1000) -> int | None:
        """Read until the server closes; return its close code (None if only TCP closed)."""
        for _ in range(limit):
            try:
                self.recv_raw(timeout)
            except ConnectionClosed as exc:
                return exc.code
        raise AssertionError("the server did not close")

    def assert_silent(self, timeout: float = 0.3) -> None:
        """Nothing but heartbeats arrives within ``timeout`` (used only to show absence)."""
        try:
            frame = self.recv(timeout)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    def subscribe(self, *channels: str) -> dict[str, Any]:
        """Subscribe to ``channels``; the Subscribed answer."""
        self.send({"type": "Subscribe", "channels": list(channels)})
        return self.recv_type("Subscribed")

    def close(self, code: int = 1000, reason: str = "") -> int | None:
        """Close handshake (bounded), then the socket; returns the code the server echoed."""
        try:
            if self.proto.state is ConnectionState.OPEN:
                self.sock.sendall(self.proto.send(CloseConnection(code=code, reason=reason)))
                self.closed_code(timeout=2)
        except (OSError, ConnectionClosed, TimeoutError, AssertionError):
            pass
        finally:
            self.sock.close()
        return self.close_code


def ws_connect(server: Any, token: str | None = None, *, query: str = "",
               headers: dict[str, str] | None = None, subprotocols: list[str] | None = None,
               origin: str | None = None, timeout: float = 5.0) -> Client:
    """Open a WebSocket to ``server`` (bearer header when ``token`` is given)."""
    extra = dict(headers or {})
    if token:
        extra["Authorization"] = f"Bearer {token}"
    if origin:
        extra["Origin"] = origin
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    proto = WSConnection(ConnectionType.CLIENT)
    host = extra.pop("Host", f"127.0.0.1:{server.port}")  # a proxy in front may rewrite it
    request = Request(host=host, target="/api/v1/realtime/ws" + query,
                      subprotocols=subprotocols or [],
                      extra_headers=[(k.encode(), v.encode()) for k, v in extra.items()])
    sock.sendall(proto.send(request))
    status, body = 0, bytearray()
    for _ in range(1000):
        data = sock.recv(65536)
        proto.receive_data(data or None)
        for event in proto.events():
            if isinstance(event, AcceptConnection):
                return Client(sock, proto, event.subprotocol, list(proto.events()))
            if isinstance(event, RejectConnection):
                status = event.status_code
                if not event.has_body:
                    sock.close()
                    raise HandshakeRefused(status, b"")
            elif isinstance(event, RejectData):
                body.extend(event.data)
                if event.body_finished:
                    sock.close()
                    raise HandshakeRefused(status, bytes(body))
        if not data:
            break
    sock.close()
    raise HandshakeRefused(status, bytes(body))
