"""gunicorn settings for IT Cook: ``gunicorn -c gunicorn.conf.py wsgi:app`` (docs/deployment.md).

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import math
import os

from itcook.config import env_setting

# Loopback: the workers sit behind the proxy (deploy/nginx.conf), which alone is public and
# keeps /metrics internal. A unix socket works too: ITCOOK_BIND=unix:/run/itcook/gunicorn.sock.
bind = os.environ.get("ITCOOK_BIND", "127.0.0.1:3000")
# gunicorn's gevent worker, plus IT Cook's lifecycle: background services after the fork, and a
# stop (SIGTERM, a reload) that closes streams with 1001 at once (itcook/worker.py).
worker_class = "itcook.worker.GeventWorker"
workers = int(os.environ.get("ITCOOK_WORKERS", "2"))
# One gevent worker holds thousands of WebSocket/SSE connections; raise `ulimit -n` to match.
worker_connections = int(os.environ.get("ITCOOK_WORKER_CONNECTIONS", "10000"))
# A worker's stop gives requests in flight ITCOOK_SHUTDOWN_GRACE seconds (streams are closed at
# its start), and one that committed its transaction as long again; the master kills it after.
graceful_timeout = math.ceil(2 * env_setting("SHUTDOWN_GRACE")) + 1
keepalive = 75
