"""gunicorn settings for IT Cook: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import os

bind = os.environ.get("ITCOOK_BIND", "0.0.0.0:3000")
worker_class = "gevent"
workers = int(os.environ.get("ITCOOK_WORKERS", "2"))
# One gevent worker holds thousands of WebSocket/SSE connections; raise `ulimit -n` to match.
worker_connections = int(os.environ.get("ITCOOK_WORKER_CONNECTIONS", "10000"))
# Long-lived streams: a worker's own requests are not subject to gunicorn's timeout under gevent,
# but graceful shutdown waits this long for in-flight REST requests.
graceful_timeout = 30
keepalive = 75


def post_worker_init(worker):  # noqa: ANN001,ANN201 - gunicorn's hook signature
    """Start the periodic jobs and the event stream in each worker, after the fork."""
    from itcook import start_services
    from itcook.serving import tune_gc

    start_services(worker.wsgi)
    tune_gc(worker.wsgi)


def worker_int(worker):  # noqa: ANN001,ANN201
    """On SIGINT/SIGQUIT close streams with 1001 so clients resume on another worker."""
    from itcook import stop_services

    stop_services(worker.wsgi)


def worker_exit(server, worker):  # noqa: ANN001,ANN201
    """On a graceful stop (SIGTERM) close streams with 1001 too."""
    from itcook import stop_services

    stop_services(worker.wsgi)
