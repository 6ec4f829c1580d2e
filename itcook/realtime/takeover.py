"""Taking a client socket over from the WSGI server for a long-lived stream, and handing it back."""

from __future__ import annotations

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
    """The response of a stream whose socket the view wrote to itself: the server adds nothing."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self._mode = mode

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self._mode == "gunicorn":
            raise StopIteration()  # gunicorn's gevent worker: the request is fully handled
        return []


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
