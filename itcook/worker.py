"""gunicorn's gevent worker with IT Cook's lifecycle: ``worker_class = "itcook.worker.GeventWorker"``.

gunicorn's own ``GeventWorker`` on SIGTERM (a stop, or a reload by SIGHUP to the master) waits
up to ``graceful_timeout`` for every connection to end by itself: live streams never do, so a
deploy hung for the whole wait and then cut every stream without a close code. This worker
runs ``itcook.serving.graceful_stop`` instead: streams get 1001 at once (clients resume on
another worker), idle keep-alive connections are closed, requests in flight finish within
``ITCOOK_SHUTDOWN_GRACE``. SIGQUIT and SIGINT (gunicorn's quick stop) do the same without the wait.
It also starts the background services of the app (periodic jobs, the event stream) after
the fork.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gevent
import gevent.event
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.sock import ssl_context
from gunicorn.workers import ggevent

from itcook.serving import Drain, graceful_stop, tune_gc, watch_commits


class _KeepAliveWait:
    """gunicorn's wait for the next request of a connection (``timeout_ctx``), which a stop ends."""

    __slots__ = ("drain", "sock", "timeout")

    def __init__(self, drain: Drain, sock: Any, seconds: float) -> None:
        self.drain, self.sock = drain, sock
        # Raised in the waiting greenlet at the keep-alive timeout, or by a stop; swallowed by
        # __exit__ either way, so gunicorn sees no request and closes the connection quietly.
        self.timeout = gevent.Timeout(seconds, False)

    def __enter__(self) -> None:
        if not self.drain.wait_begins(self.sock, self.timeout):
            raise StopIteration  # gunicorn: "closing connection"
        self.timeout.start()

    def __exit__(self, *exc: Any) -> bool:
        self.drain.wait_ends()
        return bool(self.timeout.__exit__(*exc))


class GeventWorker(ggevent.GeventWorker):
    """gunicorn's gevent worker whose stop closes streams first and does not wait for them."""

    drain: Drain
    _stop: gevent.event.Event
    _quick = False

    def init_signals(self) -> None:
        self._stop = gevent.event.Event()
        super().init_signals()

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: a graceful stop (also what the master sends its old workers on a reload)."""
        self.alive = False
        self._stop.set()  # a signal handler: only flags, and an event that wakes the main loop

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGQUIT, SIGINT: the quick stop, the same without waiting for requests in flight."""
        self._quick = True
        self.handle_exit(sig, frame)

    def run(self) -> None:
        """Serve until told to stop, then stop gracefully."""
        from itcook import start_services

        self.drain = Drain()
        self._clients: dict[Any, Any] = {}
        self._requests: dict[Any, Any] = {}  # connection greenlet -> its request in flight
        watch_commits()
        start_services(self.wsgi)
        tune_gc(self.wsgi)
        servers = [self._serve(listener) for listener in self.sockets]
        while self.alive:
            self.notify()
            self._stop.wait(1.0)
        for request in list(self._requests.values()):
            request.must_close = True  # answers not yet begun say "Connection: close"
        grace = 0.0 if self._quick else float(self.wsgi.config["SHUTDOWN_GRACE"])
        graceful_stop(self.wsgi, servers, self.drain, grace, tick=self.notify)

    def _serve(self, listener: Any) -> StreamServer:
        """Start accepting on ``listener``, as gunicorn's worker does."""
        listener.setblocking(1)
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        server = StreamServer(listener, handle=partial(self.handle, listener),
                              spawn=Pool(self.worker_connections), **ssl_args)
        if self.cfg.workers > 1:
            server.max_accept = 1  # leave the next connection to a less busy worker
        server.start()
        return server

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        # timeout_ctx gets no arguments: it finds the connection's socket here.
        self._clients[gevent.getcurrent()] = client
        try:
            super().handle(listener, client, addr)
        finally:
            del self._clients[gevent.getcurrent()]

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        current = gevent.getcurrent()
        self._requests[current] = req
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            del self._requests[current]

    def timeout_ctx(self) -> _KeepAliveWait:  # type: ignore[override]
        return _KeepAliveWait(self.drain, self._clients[gevent.getcurrent()], self.cfg.keepalive)
