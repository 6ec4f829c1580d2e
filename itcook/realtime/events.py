"""Event types, client-frame validation, and encoding each event once for every transport."""

from __future__ import annotations

import datetime as dt
import json
import struct
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

# Close codes: every reason has its own (docs/realtime-protocol.md, "Close codes").
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002  # found by the frame parser (wsproto)
CLOSE_INVALID_PAYLOAD = 1007  # invalid UTF-8 in a text message or close reason (wsproto)
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_IDLE = 4001
CLOSE_SLOW_CONSUMER = 4002
CLOSE_USER_REVOKED = 4003

CLOSE_REASONS = {
    CLOSE_NORMAL: "normal",
    CLOSE_GOING_AWAY: "server_shutdown",
    CLOSE_PROTOCOL_ERROR: "protocol_error",
    CLOSE_INVALID_PAYLOAD: "invalid_payload",
    CLOSE_POLICY: "policy_violation",
    CLOSE_TOO_BIG: "message_too_big",
    CLOSE_INTERNAL: "internal_error",
    CLOSE_IDLE: "idle_timeout",
    CLOSE_SLOW_CONSUMER: "slow_consumer",
    CLOSE_USER_REVOKED: "user_revoked",
}


def utc_ts() -> str:
    """The current UTC time as the ``ts`` string of a frame."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wire_channel(channel: str) -> str:
    """The channel name a client sees: ``user:<id>`` is ``personal`` on the wire."""
    return "personal" if channel.startswith("user:") else channel


@dataclass(slots=True)
class Event:
    """One event on its way to subscribers; ``channel`` is the internal key (``user:7``)."""

    type: str
    channel: str
    data: dict[str, Any]
    id: int | None = None
    ts: str = field(default_factory=utc_ts)
    # Connections of this user do not receive the event (typing is not echoed).
    exclude_user: Any = None
    # Any type is durable (logged with an id before it is sent, replayed on resume: SPEC §3)
    # unless its publisher says otherwise: an unknown type must never be silently left out of
    # the log. Read when published; a rebuilt event carries its id instead.
    durable: bool = True

    def frame(self) -> dict[str, Any]:
        """The JSON object of SPEC §3, the same on WebSocket and SSE."""
        frame: dict[str, Any] = {"type": self.type}
        if self.id is not None:
            frame["id"] = self.id
        frame["channel"] = wire_channel(self.channel)
        frame["ts"] = self.ts
        frame["data"] = self.data
        return frame

    def to_message(self) -> dict[str, Any]:
        """A plain dict for a broker to carry between processes."""
        return {"type": self.type, "channel": self.channel, "data": self.data, "id": self.id,
                "ts": self.ts, "exclude_user": self.exclude_user}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Event:
        """Rebuild an event from ``to_message`` output."""
        return cls(type=message["type"], channel=message["channel"], data=message["data"],
                   id=message.get("id"), ts=message["ts"], exclude_user=message.get("exclude_user"))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, the one serialisation of every frame."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (a client may send "\ud800" in JSON, and an Error echoes its channel)
        # has no UTF-8 form: escape it as JSON does, which keeps the frame valid UTF-8.
        return json.dumps(value, separators=(",", ":")).encode()


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A complete, unmasked server WebSocket frame (FIN set): one byte string serves every client."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def ws_close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with status ``code`` and a short UTF-8 reason."""
    return ws_frame(struct.pack("!H", code) + reason.encode()[:120], opcode=0x8)


def sse_message(payload: bytes, event_type: str, event_id: int | None) -> bytes:
    """One SSE message: ``id:`` for durable events, ``event:`` the type, ``data:`` the JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event_type}\n".encode() + b"data: " + payload + b"\n\n"


def sse_going_away(retry_ms: int) -> bytes:
    """The last bytes of an SSE stream the server closes (1001): come back in ``retry_ms``.

    EventSource reconnects by itself after a stream ends, with ``Last-Event-ID``; the comment
    names the reason for a person reading the stream.
    """
    return f": server_shutdown\nretry: {retry_ms}\n\n".encode()


class Encoded:
    """An event encoded once per process: the WebSocket frame now, SSE bytes on first use."""

    __slots__ = ("event", "payload", "ws", "_sse")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.payload = dumps(event.frame())
        self.ws = ws_frame(self.payload)
        self._sse: bytes | None = None

    @property
    def sse(self) -> bytes:
        if self._sse is None:
            self._sse = sse_message(self.payload, self.event.type, self.event.id)
        return self._sse


def control_frame(frame_type: str, data: dict[str, Any], *, sse: bool = False) -> bytes:
    """A control frame (Subscribed, Error, Recovery, ...) for one client: no id, no channel; a
    WebSocket frame, or an SSE message when ``sse``."""
    payload = dumps({"type": frame_type, "ts": utc_ts(), "data": data})
    return sse_message(payload, frame_type, None) if sse else ws_frame(payload)


class ProtocolError(Exception):
    """A client frame that breaks the protocol; ``code`` is stable and documented."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


@dataclass(slots=True)
class ClientFrame:
    """A validated client frame."""

    type: str
    channels: list[str] = field(default_factory=list)
    post_id: int = 0
    #: The whole frame, for a type the app registered (``Realtime.register_frame``): its handler
    #: validates the rest.
    payload: dict[str, Any] = field(default_factory=dict)


_CLIENT_TYPES = ("Heartbeat", "Subscribe", "Unsubscribe", "TypingStart", "TypingStop")
_MAX_ID = 2**63 - 1


#: Client frames are flat; deeper nesting is refused before parsing, so the answer does not
#: depend on the interpreter's recursion limit (and a raised limit cannot let the C parser
#: overflow the stack).
MAX_NESTING = 32


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return False  # the common case: no scan at all
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif ch == "]" or ch == "}":
            depth -= 1
    return False


def parse_client_frame(text: str, max_channels: int, app_types: Collection[str] = ()) -> ClientFrame:
    """Validate one client text frame or raise ``ProtocolError`` with its code; ``app_types``
    are the frame types the app handles itself (their fields are the handler's to check)."""
    if _too_deep(text):
        raise ProtocolError("invalid_json", f"frame is nested deeper than {MAX_NESTING} levels")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid_json", "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("invalid_frame", "frame must be a JSON object")
    frame_type = obj.get("type")
    if frame_type is None:
        raise ProtocolError("missing_field", "type is required", field="type")
    if not isinstance(frame_type, str):
        raise ProtocolError("invalid_field", "type must be a string", field="type")
    if frame_type in app_types:
        return ClientFrame(frame_type, payload=obj)
    if frame_type not in _CLIENT_TYPES:
        raise ProtocolError("unknown_type", f"unknown frame type {frame_type[:40]!r}")
    if frame_type in ("Subscribe", "Unsubscribe"):
        channels = obj.get("channels")
        if channels is None:
            raise ProtocolError("missing_field", "channels is required", field="channels")
        if (not isinstance(channels, list) or not channels
                or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in channels)):
            raise ProtocolError("invalid_field", "channels must be a non-empty list of channel names",
                                field="channels")
        if len(channels) > max_channels:
            raise ProtocolError("invalid_field", f"at most {max_channels} channels per frame",
                                field="channels")
        return ClientFrame(frame_type, channels=list(dict.fromkeys(channels)))
    if frame_type in ("TypingStart", "TypingStop"):
        post_id = obj.get("post_id")
        if post_id is None:
            raise ProtocolError("missing_field", "post_id is required", field="post_id")
        if isinstance(post_id, bool) or not isinstance(post_id, int) or not 0 < post_id <= _MAX_ID:
            raise ProtocolError("invalid_field", "post_id must be a positive integer", field="post_id")
        return ClientFrame(frame_type, post_id=post_id)
    return ClientFrame(frame_type)
