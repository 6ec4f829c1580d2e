"""WSGI entry point: gevent monkey-patching first, then the app.

``python wsgi.py`` serves on ITCOOK_HOST:ITCOOK_PORT with gevent's WSGI server;
``gunicorn -c gunicorn.conf.py wsgi:app`` serves the same ``app`` with gevent workers
(gunicorn's gevent worker patches by itself; the config file starts the background services).
"""

from gevent import monkey

monkey.patch_all()

import logging
import signal

import gevent
import gevent.event
import gevent.pool

from itcook import create_app, start_services

app = create_app()


def serve() -> None:
    """Serve ``app`` until SIGINT/SIGTERM, then stop gracefully (``itcook.serving.graceful_stop``)."""
    from itcook.serving import graceful_stop, make_server, tune_gc

    host, port = app.config["HOST"], app.config["PORT"]
    # A pool (unbounded) so that stop() can wait for the requests in flight at shutdown.
    # Request heads are bounded by ITCOOK_HTTP_HEADER_TIMEOUT (slowloris).
    server = make_server(app, host, port, error_log=logging.getLogger("gevent"), spawn=gevent.pool.Pool())
    server.start()
    start_services(app)
    tune_gc(app)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    base = f"http://{shown}:{server.server_port}"
    print(f"IT Cook is serving on {base}/  (Ctrl-C to stop)\n"
          f"  demo page:   {base}/\n"
          f"  status page: {base}/api/v1/realtime/status\n"
          f"  metrics:     {base}/metrics\n"
          f"  WebSocket:   ws://{shown}:{server.server_port}/api/v1/realtime/ws", flush=True)
    stopping = gevent.event.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stopping.set)
    stopping.wait()
    print("IT Cook is shutting down: closing streams (1001), finishing requests", flush=True)
    graceful_stop(app, [server], server.drain, app.config["SHUTDOWN_GRACE"])


if __name__ == "__main__":
    serve()
