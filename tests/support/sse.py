"""The SSE test client: a real streaming client (requests + sseclient-py); every read is bounded."""

from __future__ import annotations

import json
from typing import Any

import requests
import sseclient


class SseStream:
    """One open EventSource-like stream; ``next()`` returns the next event as a dict."""

    def __init__(self, server: Any, token: str | None = None, *, query: str = "",
                 headers: dict[str, str] | None = None, read_timeout: float = 10.0) -> None:
        extra = dict(headers or {})
        if token:
            extra["Authorization"] = f"Bearer {token}"
        self.response = requests.get(f"{server.url}/api/v1/realtime/sse{query}", headers=extra,
                                     stream=True, timeout=(5, read_timeout))
        self._events = None
        if self.response.status_code == 200:
            # read1: whatever has arrived, without waiting to fill a fixed-size chunk.
            chunks = iter(lambda: self.response.raw.read1(65536), b"")
            self._events = sseclient.SSEClient(chunks).events()
        self.last_id: int | None = None

    @property
    def status(self) -> int:
        """The HTTP status of the stream's response."""
        return self.response.status_code

    def next(self) -> dict[str, Any]:
        """The next event: ``{"id", "event", "frame"}`` (frame is the parsed ``data:`` JSON)."""
        assert self._events is not None, f"stream refused: {self.response.status_code}"
        event = next(self._events)
        if event.id:
            self.last_id = int(event.id)
        return {"id": int(event.id) if event.id else None, "event": event.event,
                "frame": json.loads(event.data)}

    def close(self) -> None:
        """Close the stream's connection."""
        self.response.close()


def read_sse_until(sock: Any, marker: bytes, timeout: float = 5.0) -> str:
    """The SSE bytes a raw socket receives up to and including ``marker`` (bounded: ``timeout``
    per read, and the peer closing first is a failure)."""
    sock.settimeout(timeout)
    text = b""
    while marker not in text:
        chunk = sock.recv(65536)
        assert chunk, f"the stream ended before {marker!r}: {text[-300:]!r}"
        text += chunk
    return text.decode()


def sse_fields(text: str, field: str) -> list[str]:
    """The values of every ``<field>: `` line of an SSE text."""
    prefix = f"{field}: "
    return [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]
