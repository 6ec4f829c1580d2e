"""WSGI entry point: gevent monkey-patching first, then the app.

``python wsgi.py`` serves on ITCOOK_HOST:ITCOOK_PORT with gevent's WSGI server;
``gunicorn -k gevent wsgi:app`` serves the same ``app`` (gunicorn patches itself).
"""

from gevent import monkey

monkey.patch_all()

import contextlib
import logging  # noqa: E402
import os  # noqa: E402

from itcook import create_app  # noqa: E402

app = create_app()


def serve() -> None:
    """Serve ``app`` with gevent's WSGI server until interrupted."""
    from gevent.pywsgi import WSGIServer

    host = os.environ.get("ITCOOK_HOST", "127.0.0.1")
    port = int(os.environ.get("ITCOOK_PORT", "3000"))
    server = WSGIServer((host, port), app, log=None, error_log=logging.getLogger("gevent"))
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(f"IT Cook is serving on http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    serve()
