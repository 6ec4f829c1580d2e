"""A client stream of either transport, for tests that run the same way on both."""

from __future__ import annotations

from typing import Any

from tests.support.sse import SseStream
from tests.support.ws import ws_connect

TRANSPORTS = ["websocket", "sse"]


class Stream:
    """One client stream of either transport, yielding SPEC §3 frames."""

    def __init__(self, transport: str, server: Any, token: str, query: str = "",
                 read_timeout: float = 10.0) -> None:
        self.transport = transport
        if transport == "websocket":
            self._ws = ws_connect(server, token, query=query)
        else:
            self._sse = SseStream(server, token, query=query, read_timeout=read_timeout)
            assert self._sse.status == 200, self._sse.response.text

    def frame(self, timeout: float = 10.0) -> dict:
        """The next frame (a WebSocket read waits ``timeout``; an SSE read its read timeout)."""
        if self.transport == "websocket":
            return self._ws.recv(timeout)
        return self._sse.next()["frame"]

    def close(self) -> None:
        """Close the stream."""
        (self._ws if self.transport == "websocket" else self._sse).close()
