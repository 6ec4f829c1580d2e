"""One subscriber's socket: non-blocking writes of pre-encoded bytes, a bounded backlog, one writer.

The fan-out loop calls ``deliver`` for thousands of connections in a row, so the common case
(an idle socket with room in its kernel buffer) is one non-blocking ``send`` system call and
nothing else. Only a socket that cannot take the whole frame gets a backlog and a writer
greenlet; past the backlog limit it is closed as a slow consumer instead of growing memory
or slowing anyone else. Every byte goes through ``deliver``, so there is exactly one writer
per socket and frames are never interleaved or truncated.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent

from itcook.realtime.events import Encoded

log = logging.getLogger(__name__)

WS = "websocket"
SSE = "sse"


class Connection:
    """A live client connection of either transport, as the hub sees it."""

    __slots__ = (
        "user_id", "user_name", "transport", "sock", "_raw", "channels", "_pending",
        "_pending_bytes", "_head_partial", "_writer", "closed", "close_code", "last_seen", "connected_at",
        "max_bytes", "max_frames", "on_abort", "last_event_id", "replay_buffer", "session", "__weakref__",
    )

    def __init__(self, sock: Any, user_id: int, user_name: str, transport: str, *,
                 max_bytes: int, max_frames: int,
                 on_abort: Callable[[Connection, int], None] | None = None,
                 session: str | None = None) -> None:
        self.sock = sock
        # gevent's socket wraps a non-blocking OS socket; writing to it directly skips
        # gevent's wait machinery (and sendall's extra system call) on the fast path.
        self._raw = getattr(sock, "_sock", sock)
        self.user_id = user_id
        self.user_name = user_name
        self.transport = transport
        # The user's session its credential was checked against: the principal recheck closes
        # the connection once the user's session is another (None: not checked).
        self.session = session
        self.channels: set[str] = set()
        # Created on the first write the kernel cannot take whole: most sockets never need one,
        # and an empty deque costs 600 bytes (of ~20 KB per stream).
        self._pending: deque[memoryview] | None = None
        self._pending_bytes = 0
        # The first queued chunk is the rest of a frame already partly on the wire: nothing
        # else may be written before it (a close frame in between would tear it).
        self._head_partial = False
        self._writer: gevent.Greenlet | None = None
        self.closed = False
        self.close_code: int | None = None
        self.last_seen = self.connected_at = time.monotonic()
        self.max_bytes = max_bytes
        self.max_frames = max_frames
        self.on_abort = on_abort
        # Highest durable event id written to this connection: the resume point after a broker
        # outage, and the floor below which a live event is a duplicate of a replayed one.
        self.last_event_id = 0
        # While the connection replays the log, live events wait here (see hub.end_replay).
        self.replay_buffer: list[Encoded] | None = None

    @property
    def backlog_bytes(self) -> int:
        return self._pending_bytes

    def deliver(self, data: bytes) -> bool:
        """Write ``data`` whole or queue the rest; False if the connection is gone."""
        if self.closed:
            return False
        if not self._pending:
            try:
                sent = self._raw.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.abort(None)
                return False
            if sent == len(data):
                return True
            view = memoryview(data)[sent:]
            self._head_partial = sent > 0
        else:
            view = memoryview(data)
        pending = self._pending
        if pending is None:
            pending = self._pending = deque()
        if (self._pending_bytes + len(view) > self.max_bytes
                or len(pending) >= self.max_frames):
            from itcook.realtime.events import CLOSE_SLOW_CONSUMER

            self.abort(CLOSE_SLOW_CONSUMER)
            return False
        pending.append(view)
        self._pending_bytes += len(view)
        if self._writer is None:
            self._writer = gevent.spawn(self._drain)
        return True

    def _drain(self) -> None:
        """Write the backlog as the socket accepts it; the only writer while a backlog exists."""
        pending = self._pending
        try:
            while pending and not self.closed:
                chunk = pending[0]
                sent = self.sock.send(chunk)  # cooperative: waits until the socket is writable
                self._pending_bytes -= sent
                if sent == len(chunk):
                    pending.popleft()
                    self._head_partial = False
                else:
                    pending[0] = chunk[sent:]
                    self._head_partial = self._head_partial or sent > 0
        except OSError:
            self.abort(None)
        finally:
            self._writer = None

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the backlog to drain; True when empty."""
        writer = self._writer
        if writer is not None:
            writer.join(timeout)
        return not self._pending

    def abort(self, code: int | None) -> None:
        """Drop the backlog and tear the socket down now (slow consumer, revoked, dead peer)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        torn = self._pending[0] if self._pending and self._head_partial else None
        if self._pending:
            self._pending.clear()
        self._pending_bytes = 0
        if code is not None and self.transport == WS:
            from itcook.realtime.events import CLOSE_REASONS, ws_close_frame

            # Best effort: the peer may not read it, and it must not block us. A frame partly
            # written must be finished first, or the close frame would land inside it and the
            # client would read garbage instead of the code; if it cannot be, no close frame.
            try:
                if torn is None or self._raw.send(torn) == len(torn):
                    self._raw.send(ws_close_frame(code, CLOSE_REASONS.get(code, "")))
            except OSError:
                pass
        self.shutdown()
        if self.on_abort is not None:
            self.on_abort(self, code or 0)

    def shutdown(self) -> None:
        """Shut the TCP connection down for every descriptor that shares it."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        writer = self._writer
        if writer is not None and writer is not gevent.getcurrent():
            writer.kill(block=False)
