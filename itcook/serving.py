"""gevent's WSGI server as ``python wsgi.py`` (and the tests) run it, with a bound on request heads.

gevent's ``WSGIHandler`` waits for a request line and headers for as long as the client
likes: a client that sends one byte now and then ("slowloris"), or connects and sends
nothing, holds a socket and a greenlet forever. ``BoundedHandler`` gives the whole head —
from the moment the server starts waiting for a request, so an idle keep-alive connection
too — ``header_timeout`` seconds in total; past it the connection is closed (with
``408 request_timeout`` if part of the head had arrived). The application's own time
(a WebSocket or SSE stream that lasts hours) is not bounded: the timer stops when the head
is in. gunicorn's gevent worker bounds the same wait by its ``keepalive`` setting.

``graceful_stop`` is how both servers stop (``python wsgi.py`` on SIGTERM/SIGINT, the gunicorn
worker of ``itcook.worker`` on SIGTERM): streams are closed at the start, not after the wait.
"""

from __future__ import annotations

import gc
import logging
import socket
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import gevent
from flask import Flask
from gevent.pywsgi import WSGIHandler, WSGIServer
from gevent.server import StreamServer

from itcook.realtime.signals import request_refused

log = logging.getLogger(__name__)

_TIMEOUT_BODY = b'{"error":{"code":"request_timeout","message":"the request head took too long"}}\n'
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY)


_STOPPED_BODY = (b'{"error":{"code":"shutting_down","message":"the server stopped before the request '
                 b'finished; it was not committed"}}\n')


class HeadTimeout(socket.timeout):
    """The request line and headers did not arrive within the handler's ``header_timeout``."""


def _has_input(sock: Any) -> bool:
    """Whether bytes from the client wait on ``sock`` (a request already on its way)."""
    raw = getattr(sock, "_sock", sock)
    try:
        return bool(raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (OSError, ValueError):  # nothing yet, or a TLS socket, which cannot peek
        return False


class Drain:
    """The connections of one server that wait for their next request, so a stop can end them.

    A kept-alive connection between two requests holds a greenlet of the server's pool: left
    alone, a graceful stop would wait the keep-alive timeout for it. Once ``begin`` is called
    they are closed (unless a request is already arriving), and so is a connection that starts
    waiting afterwards.
    """

    def __init__(self) -> None:
        self.active = False
        self._waiting: dict[Any, tuple[Any, BaseException]] = {}

    def wait_begins(self, sock: Any, wake: BaseException) -> bool:
        """The current greenlet waits for a request on ``sock``; a stop ends the wait by raising
        ``wake`` in it. False: the server is stopping and nothing came, close instead."""
        if self.active and not _has_input(sock):
            return False
        self._waiting[gevent.getcurrent()] = (sock, wake)
        return True

    def wait_ends(self) -> None:
        """The current greenlet has a request (or its connection ended)."""
        current = gevent.getcurrent()
        self._waiting.pop(current, None)
        _committed.discard(current)  # what the previous request committed is answered

    def begin(self) -> None:
        """From now on, connections close instead of waiting for another request."""
        self.active = True
        gevent.get_hub().loop.run_callback(self._wake_waiting)

    def _wake_waiting(self) -> None:
        # Runs in the hub: a greenlet still registered here is parked in its wait, not serving.
        for glet in list(self._waiting):
            entry = self._waiting.get(glet)
            if entry is not None and not _has_input(entry[0]):
                del self._waiting[glet]
                try:
                    glet.throw(entry[1])
                except BaseException:  # the greenlet's own business; it is ending anyway
                    log.debug("closing an idle connection failed", exc_info=True)


#: Greenlets whose current request committed a database transaction: the end of a stop's
#: grace period does not cut them (their client must learn what was done). A greenlet serves
#: one connection; ``Drain.wait_ends`` forgets the mark when its next request begins.
_committed: weakref.WeakSet[Any] = weakref.WeakSet()


def _note_commit(_conn: Any) -> None:
    _committed.add(gevent.getcurrent())


def watch_commits() -> None:
    """Mark the greenlet of every database commit (once per process; ``make_server`` does it)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "commit", _note_commit):
        event.listen(Engine, "commit", _note_commit)


def graceful_stop(app: Flask, servers: Iterable[StreamServer], drain: Drain, grace: float,
                  tick: Callable[[], None] = lambda: None) -> None:
    """Stop serving ``app``: accept nothing more, close streams (1001) and idle connections now,
    give requests in flight ``grace`` seconds, then stop the background services.

    ``tick`` is called about every second while waiting (gunicorn's worker heartbeat).
    """
    from itcook import close_streams, stop_services

    servers = list(servers)
    for server in servers:
        server.close()  # stop accepting; requests in flight go on
    drain.begin()
    close_streams(app)
    pools = [server.pool for server in servers if server.pool is not None]
    if not _join(pools, grace, tick):
        # Past the grace period: cut what has not committed yet; what has gets as long again.
        for pool in pools:
            for glet in list(pool):
                if glet not in _committed:
                    glet.kill(block=False)
        if not _join(pools, grace, tick):
            log.warning("graceful stop: %d request(s) still running after %.0f s, cut",
                        sum(len(pool) for pool in pools), 2 * grace)
            for pool in pools:
                pool.kill(timeout=1)
    stop_services(app)


def _join(pools: list[Any], timeout: float, tick: Callable[[], None]) -> bool:
    """Wait up to ``timeout`` seconds for every pool to empty; True if they did."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [pool for pool in pools if len(pool)]
        remaining = deadline - time.monotonic()
        if not busy:
            return True
        if remaining <= 0:
            return False
        tick()
        busy[0].join(timeout=min(1.0, remaining))


class BoundedHandler(WSGIHandler):
    """A ``WSGIHandler`` that gives each request head at most ``header_timeout`` seconds."""

    header_timeout: float = 20.0
    _head_timer: Any = None

    def handle(self) -> Any:
        # gevent writes a response in more than one send; with Nagle on, the last part waits
        # for the client's delayed ACK (~40 ms per REST response on a kept-alive connection).
        # Streams want every frame on the wire at once too.
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return super().handle()

    def handle_one_request(self) -> Any:
        # A socket error while reading the request line (HeadTimeout is one) closes quietly.
        self._head_timer = gevent.Timeout.start_new(self.header_timeout, HeadTimeout)
        try:
            result = super().handle_one_request()
        finally:
            self._head_timer.cancel()
        if isinstance(result, tuple):  # (status, response): refused here, before the app ran
            self._count("header_timeout" if result[0] == "408" else "malformed_request")
        return result

    def read_requestline(self) -> str:
        drain: Drain | None = getattr(self.server, "drain", None)
        if drain is None:
            return super().read_requestline()  # type: ignore[no-any-return]
        # An OSError ends the wait quietly (gevent: "the client went away").
        if not drain.wait_begins(self.socket, ConnectionAbortedError("the server is stopping")):
            return ""  # the server is stopping: no new request on this connection
        try:
            return super().read_requestline()  # type: ignore[no-any-return]
        finally:
            drain.wait_ends()

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        drain: Drain | None = getattr(self.server, "drain", None)
        if (drain is not None and drain.active and not status.startswith("101")
                and not any(name.lower() == "connection" for name, _ in headers)):
            headers = [*headers, ("Connection", "close")]  # the server is stopping: no keep-alive
        return super().start_response(status, headers, exc_info)

    def read_request(self, raw_requestline: str) -> Any:
        try:
            return super().read_request(raw_requestline)
        finally:
            self._head_timer.cancel()  # the head is in: what follows is the application's time

    def handle_error(self, t: type[BaseException], v: BaseException, tb: Any) -> None:
        if not (issubclass(t, gevent.GreenletExit) and getattr(self.server, "drain", None)):
            return super().handle_error(t, v, tb)  # type: ignore[no-any-return]
        # Cut at the end of a stop's grace period (graceful_stop): say so, if nothing was sent.
        self.close_connection = True
        if not self.response_length and not getattr(self, "headers_sent", False):
            try:
                self.start_response("503 Service Unavailable", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(_STOPPED_BODY)))])
                self.write(_STOPPED_BODY)
            except OSError:
                pass
        return None

    def _handle_client_error(self, ex: Exception) -> Any:
        if isinstance(ex, HeadTimeout):
            return ("408", _TIMEOUT_RESPONSE)
        return super()._handle_client_error(ex)

    def _count(self, reason: str) -> None:
        """Tell whoever counts refusals (the real-time plugin) that this one happened here."""
        request_refused.send(self.server.application, reason=reason, path=None)


def tune_gc(app: Flask) -> None:
    """Make full garbage collections rarer in a serving process (``ITCOOK_GC_FULL_EVERY``).

    A process holding 10k streams tracks about a million objects (~90 per connection), and a
    full collection walks them all in one pause — about 0.3 s on a 2-core machine, every time
    the heap grows by a quarter: eight times while 10k clients connect, as many again in a
    reconnect storm (2.8 s of its 12.9 s of CPU). The young collections, which find most
    garbage, are left as they are; cycles that reach the old generation wait longer.
    """
    every = int(app.config.get("GC_FULL_EVERY", 0))
    if every > 0:
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, every)


def make_server(app: Flask, host: str, port: int, *, header_timeout: float | None = None,
                **kwargs: Any) -> WSGIServer:
    """A gevent ``WSGIServer`` for ``app`` whose request heads are bounded in time."""
    timeout = app.config.get("HTTP_HEADER_TIMEOUT", 20.0) if header_timeout is None else header_timeout
    handler = type("ItcookHandler", (BoundedHandler,), {"header_timeout": float(timeout)})
    kwargs.setdefault("log", None)
    kwargs.setdefault("error_log", logging.getLogger("gevent"))
    watch_commits()
    server = WSGIServer((host, port), app, handler_class=handler, **kwargs)
    server.drain = Drain()  # type: ignore[attr-defined]
    return server
