"""The long soak: ``make soak`` (or ``python -m gevent.monkey --module tests.reliability.soak``).

Starts the app on a gevent server in this process (SQLite in a temporary folder, or
``ITCOOK_TEST_DATABASE_URL``), runs the harness with the given size and prints the summary
as a line of JSON. Exits non-zero if any invariant fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run one long soak and print its summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=400)
    parser.add_argument("--events", type=int, default=2500, help="events per publisher")
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--disconnect-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from itcook import create_app
    from itcook.extensions import db
    from tests.support import soak
    from tests.support.servers import LiveServer, make_test_config

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(make_test_config(
            Path(folder), REALTIME_MAX_CONNECTIONS_PER_USER=100_000, REALTIME_SSE_KEEPALIVE_INTERVAL=1.0,
            REALTIME_RATE=1000.0, REALTIME_BURST=1000))
        with app.app_context():
            db.drop_all()
            db.create_all()
        server = LiveServer(app)
        try:
            summary = soak.run_soak(server, args.clients, args.events, args.publishers,
                                       args.disconnect_rate, args.seed,
                                       users_count=max(6, args.clients // 20))
        except AssertionError as exc:
            print(f"SOAK FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            server.stop()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
