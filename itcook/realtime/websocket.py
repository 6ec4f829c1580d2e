"""One WebSocket session: read and validate client frames; everything written goes through ``deliver``."""

from __future__ import annotations

import logging
import socket
import time
from functools import partial
from typing import Any

from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from itcook.realtime import resume
from itcook.realtime.auth import Principal
from itcook.realtime.connection import WS, Connection
from itcook.realtime.events import (
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    ProtocolError,
    control_frame,
    parse_client_frame,
)
from itcook.realtime.state import RealtimeState
from itcook.realtime.takeover import release

log = logging.getLogger(__name__)

#: One recv() reads at most this much; wsproto parses it incrementally.
RECV_BYTES = 65536


class _NoThread:
    """simple-websocket starts a reader thread per connection; we read in the request greenlet."""

    name = "(_thread)"

    def __init__(self, target: Any = None) -> None:
        pass

    def start(self) -> None:
        pass


class _NoEvent:
    """The reader thread's event is never used either."""


#: flask-sock passes these to simple-websocket's Server for the handshake only.
SERVER_OPTIONS = {"subprotocols": ["itcook.v1"], "thread_class": _NoThread, "event_class": _NoEvent}


class Session:
    """Protocol state of one connection: rate limit, violations, partial message."""

    def __init__(self, state: RealtimeState, principal: Principal, conn: Connection,
                 proto: Any) -> None:
        self.state, self.principal, self.conn, self.proto = state, principal, conn, proto
        cfg = state.config
        self.max_message = cfg["max_message_bytes"]
        # Read up to the largest limit a frame type registered; which type it is, and so
        # whether the general limit holds, is known once the whole message is in.
        self.max_read = max([self.max_message, *state.frame_limits.values()])
        self.rate, self.burst = cfg["rate"], float(cfg["burst"])
        self.tokens, self.refilled = self.burst, time.monotonic()
        self.max_violations = cfg["max_violations"]
        self.violations, self.window_start = 0, time.monotonic()
        self.partial: list[str] | None = None
        self.partial_len = 0
        self.partial_binary = False
        self.close_code: int | None = None
        self.peer_closed = False  # the client sent a close frame (not a protocol error)

    # -- writing ----------------------------------------------------------------------------
    def send(self, frame_type: str, **data: Any) -> None:
        self.conn.deliver(control_frame(frame_type, data))

    def error(self, code: str, message: str, violation: bool = True, **extra: Any) -> None:
        """Answer with an Error frame; repeated violations end in a policy close."""
        self.state.hub.stats.errors[code] += 1
        self.send("Error", code=code, message=message, **extra)
        if not violation:
            return
        now = time.monotonic()
        if now - self.window_start > 60.0:  # violations are counted per minute
            self.violations, self.window_start = 0, now
        self.violations += 1
        if self.violations >= self.max_violations:
            self.close(CLOSE_POLICY, "too many invalid or rate-limited frames")

    def close(self, code: int, reason: str) -> None:
        """Start a server-side close: the close frame goes after whatever is queued."""
        if self.close_code is None:
            self.close_code = code
            try:
                self.conn.deliver(self.proto.send(CloseConnection(code=code, reason=reason)))
            except Exception:  # wsproto refuses if a close is already under way
                pass

    # -- reading ----------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Handle bytes from the socket."""
        self.proto.receive_data(data)
        for event in self.proto.events():
            if self.close_code is not None:
                return
            if isinstance(event, TextMessage | BytesMessage):
                self._message_part(event)
            elif isinstance(event, Ping):
                self.conn.deliver(self.proto.send(event.response()))
            elif isinstance(event, Pong):
                pass
            elif isinstance(event, CloseConnection):
                self._peer_closed(event)

    def _peer_closed(self, event: CloseConnection) -> None:
        code = event.code
        # REMOTE_CLOSING: the client sent a close frame, a normal end whatever code it chose.
        # Otherwise wsproto reports a protocol error (1002) or invalid UTF-8 (1007) it found.
        self.peer_closed = self.proto.state.name == "REMOTE_CLOSING"
        try:
            # Echo the peer's close, or close with the protocol error wsproto found (1002/1007).
            self.conn.deliver(self.proto.send(event.response() if self.proto.state.name ==
                                              "REMOTE_CLOSING" else CloseConnection(code=code)))
        except Exception:
            pass
        self.close_code = int(code)

    def _message_part(self, event: TextMessage | BytesMessage) -> None:
        if self.partial is None:
            self.partial, self.partial_len = [], 0
            self.partial_binary = isinstance(event, BytesMessage)
        # The limit is in bytes: a text part counts its UTF-8 length, not its characters.
        data = event.data
        self.partial_len += len(data.encode()) if isinstance(data, str) else len(data)
        if self.partial_len > (self.max_message if self.partial_binary else self.max_read):
            self._too_big(None)
            return
        if not self.partial_binary:
            self.partial.append(event.data)  # type: ignore[arg-type]
        if not event.message_finished:
            return
        text = "".join(self.partial)
        binary = self.partial_binary
        self.partial = None
        if binary:
            self.error("binary_not_supported", "send JSON text frames")
            return
        self._frame(text, self.partial_len)

    def _too_big(self, frame_type: str | None) -> None:
        """Refuse an oversized message (of ``frame_type`` if known) and close (1009)."""
        limits = self.state.frame_limits
        message = f"frames are limited to {self.max_message} bytes"
        if frame_type in limits:
            message = f"{frame_type} frames are limited to {limits[frame_type]} bytes"
        elif frame_type is None and limits:
            own = ", ".join(f"{t} {n}" for t, n in sorted(limits.items()))
            message += f" (frame types with their own limit: {own})"
        self.error("message_too_big", message, violation=False)
        self.close(CLOSE_TOO_BIG, "message too big")

    def _allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def _frame(self, text: str, size: int) -> None:
        # The rate first: a client over it gets no parse, however large its message.
        if not self._allow():
            self.error("rate_limited", f"at most {self.rate:g} frames per second")
            return
        handlers = self.state.frame_handlers
        try:
            frame = parse_client_frame(text, self.state.config["max_subscriptions"], handlers)
        except ProtocolError as exc:
            if size > self.max_message:  # as if its reading had stopped at the general limit
                self._too_big(None)
            else:
                self.error(exc.code, exc.message, **exc.extra)
            return
        if size > self.state.frame_limits.get(frame.type, self.max_message):
            self._too_big(frame.type)
            return
        try:
            if frame.type in handlers:
                handlers[frame.type](self.principal, self.conn, frame.payload)
            elif frame.type in ("Subscribe", "Unsubscribe"):
                self._subscription(frame.type, frame.channels)
            elif frame.type in ("TypingStart", "TypingStop"):
                self._typing(frame.type, frame.post_id)
        except ProtocolError as exc:
            self.error(exc.code, exc.message, **exc.extra)

    def _subscription(self, frame_type: str, names: list[str]) -> None:
        hub, conn = self.state.hub, self.conn
        done: list[str] = []
        for name in names:
            try:
                key = self.state.settled(partial(self.state.resolve_channel, self.principal, name))
            except ProtocolError as exc:
                self.error(exc.code, exc.message, **exc.extra)
                continue
            if frame_type == "Unsubscribe":
                hub.unsubscribe(conn, key)
            elif key not in conn.channels:
                if len(conn.channels) >= self.state.config["max_subscriptions"]:
                    self.error("too_many_subscriptions",
                               f"at most {self.state.config['max_subscriptions']} channels",
                               channel=name)
                    continue
                hub.subscribe(conn, key)
            done.append(name)
        if done:
            self.send("Subscribed" if frame_type == "Subscribe" else "Unsubscribed", channels=done)

    def _typing(self, frame_type: str, post_id: int) -> None:
        self.state.resolve_channel(self.principal, f"post:{post_id}")  # raises if no such post
        if frame_type == "TypingStart":
            self.state.typing.start(post_id, self.principal.user_id, self.principal.name)
        else:
            self.state.typing.stop(post_id, self.principal.user_id)


def _linger(sock: Any, timeout: float = 1.0, limit: int = 1 << 20) -> None:
    """Half-close, then read and drop what the peer still sends until it closes (bounded).

    Closing a socket with unread input makes the kernel send RST, and a peer that was still
    sending (an oversized frame) may lose our Error and close frames with it.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while limit > 0 and time.monotonic() < deadline:
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                break
            limit -= len(chunk)
    except OSError:  # includes the timeout: the peer had its chance
        pass


def run(ws: Any, state: RealtimeState, principal: Principal, channels: list[str],
        after_id: int | None, dropped: dict[str, list[str]] | None = None) -> None:
    """Serve one accepted WebSocket (``ws`` is simple-websocket's Server after the handshake)."""
    # The server's keep-alive reader (and its 8 KB buffer) is done with this connection.
    release(ws.environ)
    cfg = state.config
    hub = state.hub
    sock = ws.sock
    conn = Connection(sock, principal.user_id, principal.name, WS,
                      max_bytes=cfg["send_buffer_bytes"], max_frames=cfg["send_buffer_frames"],
                      on_abort=lambda c, code: hub.remove(c, state.close_reason(code)),
                      session=principal.session)
    session = Session(state, principal, conn, ws.ws)
    state.ensure_started()
    hub.add(conn)
    if state.closing:  # admitted just before a stop began: it must not outlive it
        state.going_away(conn)
    try:
        resume.join(state, conn, channels, after_id, dropped)
        while not conn.closed and session.close_code is None:
            try:
                data = sock.recv(RECV_BYTES)
            except OSError:
                break
            if not data:
                break
            hub.heard_from(conn, time.monotonic())
            session.feed(data)
    except Exception:
        log.exception("websocket session of user %s failed", principal.user_id)
        session.close(CLOSE_INTERNAL, "internal error")
    finally:
        reason = "normal" if session.peer_closed else state.close_reason(
            session.close_code if session.close_code is not None else conn.close_code)
        hub.remove(conn, reason)
        if not hub.user_connection_count(principal.user_id):
            state.typing.drop_user(principal.user_id)
        for hook in state.disconnect_hooks:
            try:
                hook(conn)
            except Exception:  # the connection is gone either way; what it held expires
                log.exception("disconnect hook %r failed", hook)
        conn.flush(1.0)  # let a close frame reach the peer before the TCP shutdown
        if not conn.closed:
            _linger(sock)
        conn.closed = True
        conn.shutdown()
        ws.connected = False  # flask-sock must not try to close it again
        try:
            sock.close()
        except OSError:
            pass
