"""The Server-Sent Events fallback: the same events, written to a socket taken over from the server.

Taking the socket over (as the WebSocket does) lets SSE share the encode-once, non-blocking
write path and its slow-consumer limits instead of a generator and a queue per stream.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from itcook.realtime import resume
from itcook.realtime.auth import Principal
from itcook.realtime.connection import SSE, Connection
from itcook.realtime.state import RealtimeState
from itcook.realtime.takeover import TakenOver, release, take_socket

log = logging.getLogger(__name__)


def _headers(origin: str | None, retry_ms: int) -> bytes:
    lines = [
        "HTTP/1.1 200 OK",
        "Content-Type: text/event-stream; charset=utf-8",
        "Cache-Control: no-cache, no-store, no-transform",
        "X-Accel-Buffering: no",  # nginx: do not buffer the stream
        "Connection: close",
    ]
    if origin:
        lines += [f"Access-Control-Allow-Origin: {origin}", "Access-Control-Allow-Credentials: true",
                  "Vary: Origin"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + f"retry: {retry_ms}\n\n".encode()


def run(environ: dict[str, Any], state: RealtimeState, principal: Principal, channels: list[str],
        after_id: int | None, origin: str | None,
        dropped: dict[str, list[str]] | None = None) -> TakenOver:
    """Open an EventSource stream (headers, replay); the response runs the rest of its life."""
    cfg = state.config
    hub = state.hub
    sock = take_socket(environ)
    release(environ)  # the server's keep-alive reader (and its 8 KB buffer) is done with it
    mode = "gunicorn" if "gunicorn.socket" in environ else "gevent"
    conn = Connection(sock, principal.user_id, principal.name, SSE,
                      max_bytes=cfg["send_buffer_bytes"], max_frames=cfg["send_buffer_frames"],
                      on_abort=lambda c, code: hub.remove(c, state.close_reason(code)),
                      session=principal.session)
    state.ensure_started()
    hub.add(conn)
    try:
        conn.deliver(_headers(origin, cfg["sse_retry_ms"]))
        if state.closing:  # admitted just before a stop began: it must not outlive it
            state.going_away(conn)
        resume.join(state, conn, channels, after_id, dropped)
    except Exception:
        log.exception("SSE stream of user %s failed", principal.user_id)
        _finish(state, conn, sock, "internal_error")
        return TakenOver(mode)
    except BaseException:  # killed (shutdown): still leave the hub
        _finish(state, conn, sock, "normal")
        raise
    return TakenOver(mode, lambda: _wait(state, conn, sock))


def _wait(state: RealtimeState, conn: Connection, sock: Any) -> None:
    """The stream's life after the handshake: the client never speaks again; a read returns
    when it closes the connection (or ours is closed: a slow consumer, a revocation)."""
    reason = "normal"
    try:
        while not conn.closed:
            try:
                data = sock.recv(4096)
            except OSError:
                break
            if not data:
                break
            conn.last_seen = time.monotonic()
    except Exception:
        log.exception("SSE stream of user %s failed", conn.user_id)
        reason = "internal_error"
    finally:
        _finish(state, conn, sock, reason)


def _finish(state: RealtimeState, conn: Connection, sock: Any, reason: str) -> None:
    state.hub.remove(conn, reason if conn.close_code is None else state.close_reason(conn.close_code))
    conn.flush(1.0)
    conn.closed = True
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
