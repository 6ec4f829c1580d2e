"""gevent's WSGI server as ``python wsgi.py`` (and the tests) run it, with a bound on request heads.

gevent's ``WSGIHandler`` waits for a request line and headers for as long as the client
likes: a client that sends one byte now and then ("slowloris"), or connects and sends
nothing, holds a socket and a greenlet forever. ``BoundedHandler`` gives the whole head —
from the moment the server starts waiting for a request, so an idle keep-alive connection
too — ``header_timeout`` seconds in total; past it the connection is closed (with
``408 request_timeout`` if part of the head had arrived). The application's own time
(a WebSocket or SSE stream that lasts hours) is not bounded: the timer stops when the head
is in. gunicorn's gevent worker bounds the same wait by its ``keepalive`` setting.
"""

from __future__ import annotations

import gc
import logging
import socket
from typing import Any

import gevent
from flask import Flask
from gevent.pywsgi import WSGIHandler, WSGIServer

from itcook.signals import request_refused

_TIMEOUT_BODY = b'{"error":{"code":"request_timeout","message":"the request head took too long"}}\n'
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY)


class HeadTimeout(socket.timeout):
    """The request line and headers did not arrive within the handler's ``header_timeout``."""


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

    def read_request(self, raw_requestline: str) -> Any:
        try:
            return super().read_request(raw_requestline)
        finally:
            self._head_timer.cancel()  # the head is in: what follows is the application's time

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
    return WSGIServer((host, port), app, handler_class=handler, **kwargs)
