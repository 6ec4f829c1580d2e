"""What the server must answer, computed from the documents (docs/realtime-protocol.md: "Client → server
frames", "Channels", "Close codes"; RFC 6455 §5 and §7.4) — not from the server's code.

``answers`` covers one complete text message; ``frames`` walks a sequence of raw frames the
way RFC 6455 says an endpoint must, and returns every output the server owes, in order.
"""

from __future__ import annotations

import codecs
import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any

CLIENT_TYPES = ("Heartbeat", "Subscribe", "Unsubscribe", "TypingStart", "TypingStop")
MAX_ID = 2**63 - 1
# Channel names are ASCII: a word, a colon, a decimal id (at most 19 digits; ids are 64-bit).
SCOPED = re.compile(r"([a-z]+):([0-9]{1,19})")

# The stats name of each close the server starts (docs/realtime-protocol.md "Close codes").
SERVER_CLOSE_REASONS = {1002: "protocol_error", 1007: "invalid_payload", 1009: "message_too_big"}
# RFC 6455 §7.4: codes a peer may send. 1004-1006, 1015, 1016-2999 and anything outside
# 1000-4999 are not (1014 is left out of the tests: registered later, not in RFC 6455).
VALID_CLOSE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013} | set(range(3000, 5000))


#: Frames nested deeper than this are refused as invalid_json
#: (docs/realtime-protocol.md, "Client → server frames").
MAX_NESTING = 32


def nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (JSON strings skipped)."""
    depth = deepest = 0
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
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def error(code: str) -> tuple[str, ...]:
    return ("Error", code)


@dataclass
class Peer:
    """The fuzzing user as the server sees it: its id, the one existing post, its channels."""

    user_id: int
    post_id: int
    max_subscriptions: int
    max_message: int
    #: How much of a text message the server reads before it knows the message's type: the
    #: largest limit a frame type registered (``register_frame(max_bytes=...)``).
    max_read: int = 0
    channels: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.channels = {f"user:{self.user_id}", "community", "system"}

    def resolve(self, name: str) -> tuple[str | None, str | None]:
        """(internal key, None) or (None, error code) for a channel name."""
        if name == "personal":
            return f"user:{self.user_id}", None
        if name in ("community", "system"):
            return name, None
        match = SCOPED.fullmatch(name)
        if match is None:
            return None, "unknown_channel"
        prefix, ident = match.group(1), int(match.group(2))
        if prefix in ("personal", "user"):
            return (f"user:{ident}", None) if ident == self.user_id else (None, "forbidden_channel")
        if prefix == "post":
            return (f"post:{ident}", None) if ident == self.post_id else (None, "channel_not_found")
        if prefix == "group":
            return None, "forbidden_channel"  # group channels are for members; this user is in none
        return None, "unknown_channel"

    def answers(self, text: str) -> list[tuple[Any, ...]]:
        """What the server sends back for one complete text message (size already checked)."""
        if nesting(text) > MAX_NESTING:
            return [error("invalid_json")]
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return [error("invalid_json")]
        if not isinstance(obj, dict):
            return [error("invalid_frame")]
        kind = obj.get("type")
        if kind is None:
            return [error("missing_field")]
        if not isinstance(kind, str):
            return [error("invalid_field")]
        if kind not in CLIENT_TYPES:
            return [error("unknown_type")]
        if kind in ("Subscribe", "Unsubscribe"):
            return self._subscription(kind, obj.get("channels"))
        if kind in ("TypingStart", "TypingStop"):
            post_id = obj.get("post_id")
            if post_id is None:
                return [error("missing_field")]
            if isinstance(post_id, bool) or not isinstance(post_id, int) or not 0 < post_id <= MAX_ID:
                return [error("invalid_field")]
            return [] if post_id == self.post_id else [error("channel_not_found")]
        return []

    def _subscription(self, kind: str, channels: Any) -> list[tuple[Any, ...]]:
        if channels is None:
            return [error("missing_field")]
        if (not isinstance(channels, list) or not channels
                or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in channels)):
            return [error("invalid_field")]
        if len(channels) > self.max_subscriptions:
            return [error("invalid_field")]
        out: list[tuple[Any, ...]] = []
        done: list[str] = []
        for name in dict.fromkeys(channels):
            key, code = self.resolve(name)
            if code is not None:
                out.append(error(code))
                continue
            assert key is not None
            if kind == "Unsubscribe":
                self.channels.discard(key)
            elif key not in self.channels:
                if len(self.channels) >= self.max_subscriptions:
                    out.append(error("too_many_subscriptions"))
                    continue
                self.channels.add(key)
            done.append(name)
        if done:
            out.append(("ack", kind + "d", tuple(done)))
        return out


@dataclass
class Spec:
    """One client frame as it goes on the wire (see frames.build)."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    masked: bool = True
    length_form: str = "minimal"
    declared: int | None = None  # a length larger than what is sent: the frame never ends

    def __repr__(self) -> str:
        shown = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        extra = "".join(f", {k}={v!r}" for k, v in (("fin", self.fin), ("rsv", self.rsv),
                        ("masked", self.masked), ("length_form", self.length_form),
                        ("declared", self.declared)) if v != Spec.__dataclass_fields__[k].default)
        return f"Spec({self.opcode:#x}, {shown!r} ({len(self.payload)} bytes){extra})"

    def wire(self) -> bytes:
        from tests.support.frames import build

        return build(self.opcode, self.payload, fin=self.fin, rsv=self.rsv, masked=self.masked,
                     length_form=self.length_form, declared=self.declared)


@dataclass
class Outcome:
    outputs: list[tuple[Any, ...]]
    closed: bool  # the connection ends (server close, or the echo of the client's close)
    close_code: int | None = None  # the code in the server's close frame (None: empty payload)
    reason: str | None = None  # the stats reason the server records
    mid_message: bool = False  # still open, inside a fragmented message


def _length_ok(spec: Spec) -> bool:
    length = len(spec.payload) if spec.declared is None else spec.declared
    if spec.length_form == "64msb":
        return False
    if spec.length_form == "16":
        return length > 125
    if spec.length_form == "64":
        return length > 0xFFFF
    return True


def frames(peer: Peer, specs: list[Spec]) -> Outcome:
    """Walk ``specs`` as RFC 6455 requires; the first violation decides the close code."""
    outputs: list[tuple[Any, ...]] = []
    kind: int | None = None  # opcode of the message in progress
    decoder: Any = None
    body = bytearray()

    def server_close(code: int) -> Outcome:
        return Outcome(outputs, True, code, SERVER_CLOSE_REASONS[code])

    for spec in specs:
        control = spec.opcode >= 0x8
        if spec.rsv or spec.opcode not in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA) or not spec.masked:
            return server_close(1002)
        if control and (not spec.fin or len(spec.payload) > 125):
            return server_close(1002)
        if not _length_ok(spec):
            return server_close(1002)
        if spec.opcode == 0x9:
            outputs.append(("pong", spec.payload))
            continue
        if spec.opcode == 0xA:
            continue
        if spec.opcode == 0x8:
            payload = spec.payload
            if not payload:
                return Outcome(outputs, True, None, "normal")
            if len(payload) == 1:
                return server_close(1002)
            code = struct.unpack("!H", payload[:2])[0]
            if code not in VALID_CLOSE:
                return server_close(1002)
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                return server_close(1007)
            return Outcome(outputs, True, code, "normal")
        # A data frame: starts a message (text/binary) or continues one.
        if spec.opcode == 0x0:
            if kind is None:
                return server_close(1002)
        else:
            if kind is not None:
                return server_close(1002)
            kind, body = spec.opcode, bytearray()
            decoder = codecs.getincrementaldecoder("utf-8")() if kind == 0x1 else None
        final = spec.fin and spec.declared is None
        body += spec.payload
        received = len(body)
        if decoder is not None:
            try:
                decoder.decode(spec.payload, final=final)
            except UnicodeDecodeError:
                return server_close(1007)
            received -= len(decoder.getstate()[0])  # bytes still waiting for the rest of a character
        if received > (peer.max_message if kind == 0x2 else max(peer.max_read, peer.max_message)):
            outputs.append(error("message_too_big"))
            return server_close(1009)
        if spec.declared is not None:
            raise AssertionError("a frame that never ends must exceed the size limit")
        if final:
            if kind == 0x2:
                outputs.append(error("binary_not_supported"))
            elif len(body) > peer.max_message:  # no type fuzzed here registered a larger limit
                outputs.append(error("message_too_big"))
                return server_close(1009)
            else:
                outputs.extend(peer.answers(body.decode("utf-8")))
            kind, decoder = None, None
    return Outcome(outputs, False, mid_message=kind is not None)
