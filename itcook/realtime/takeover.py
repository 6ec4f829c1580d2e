"""Taking a client socket over from the WSGI server for a long-lived stream, and handing it back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import Response


def take_socket(environ: dict[str, Any]) -> Any:
    """The client socket under this request (gevent's WSGI server, gunicorn or Werkzeug)."""
    if "gunicorn.socket" in environ:
        return environ["gunicorn.socket"]
    if "werkzeug.socket" in environ:
        return environ["werkzeug.socket"]
    wsgi_input = environ["wsgi.input"]
    raw = getattr(wsgi_input, "raw", None) or getattr(getattr(wsgi_input, "rfile", None), "raw", None)
    if raw is None:
        raise RuntimeError("this WSGI server does not expose its socket; SSE needs gevent or gunicorn")
    return raw._sock


class TakenOver(Response):
    """The response of a stream whose socket the view wrote to itself: the server adds nothing.

    ``rest`` (the stream's remaining life) runs when the WSGI server takes the response body:
    by then Flask has popped the request's context, so a stream that lasts hours does not keep
    the request objects, nor the deep stack of the view, alive (a few KB per stream).
    """

    def __init__(self, mode: str, rest: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._mode = mode
        self._rest = rest

    def __call__(self, environ: Any, start_response: Any) -> Any:
        rest, self._rest = self._rest, None
        if self._mode == "gunicorn":
            if rest is not None:
                rest()  # gunicorn would write a response after the body: run it here instead
            raise StopIteration()  # gunicorn's gevent worker: the request is fully handled
        return _Rest(rest, environ) if rest is not None else []


class _Rest:
    """An empty response body that runs the rest of the stream when the server iterates it."""

    __slots__ = ("rest", "environ")

    def __init__(self, rest: Callable[[], None], environ: dict[str, Any]) -> None:
        self.rest: Callable[[], None] | None = rest
        self.environ = environ

    def __iter__(self) -> Iterator[bytes]:
        rest, self.rest = self.rest, None
        # gevent's handler keeps the environ until the connection ends but reads it again only
        # to log an error of the app: the request's headers (and Werkzeug's Request object,
        # parked in it) need not outlive the handshake by hours.
        self.environ.clear()
        if rest is not None:
            rest()
        return iter(())


def release(environ: dict[str, Any]) -> None:
    """Tell gevent's WSGI server the connection is finished: no keep-alive read after the stream.

    Without this its handler reads on after our stream ended, takes any late bytes from the
    client (a close frame, say) for a new request and answers it on a dead socket.
    """
    if not str(environ.get("SERVER_SOFTWARE", "")).startswith("gevent"):
        return
    wsgi_input = environ.get("wsgi.input")
    # gevent hands an upgrade request its own reader as wsgi.input, other requests a wrapper.
    rfile = getattr(wsgi_input, "rfile", wsgi_input)
    if rfile is not None:
        try:
            rfile.close()
        except OSError:
            pass
