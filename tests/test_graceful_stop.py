"""``itcook.serving.graceful_stop`` on the server ``python wsgi.py`` runs, in this process.

(tests/deploy runs the real processes, behind nginx too; these run in every database pass.)
"""

from __future__ import annotations

from typing import Any

import gevent
import gevent.event
import gevent.pool
from sqlalchemy import text

from itcook.extensions import db
from itcook.serving import graceful_stop, make_server
from tests.support.deploy import raw_request, read_until
from tests.support.waiting import wait_for

#: Any wait below: far longer than the grace periods given, so a wait that ends on its own
#: timeout (not on what the stop did) fails.
BOUND = 5.0


def _serve(app: Any) -> Any:
    server = make_server(app, "127.0.0.1", 0, spawn=gevent.pool.Pool())
    server.start()
    return server


def test_the_end_of_the_grace_period_cuts_only_requests_that_have_not_committed(app) -> None:
    release = gevent.event.Event()
    started: list[str] = []

    @app.post("/__test/commit-then-wait")
    def commit_then_wait() -> dict[str, bool]:
        db.session.execute(text("SELECT 1"))
        db.session.commit()
        started.append("committed")
        release.wait(BOUND * 2)  # the answer is late, the change is done: it must not be cut
        return {"done": True}

    @app.post("/__test/wait")
    def wait() -> dict[str, bool]:
        started.append("waiting")
        release.wait(BOUND * 2)
        return {"done": True}

    server = _serve(app)
    port = server.server_port
    committed = raw_request(port, "POST /__test/commit-then-wait HTTP/1.1\nHost: x\nContent-Length: 0")
    waiting = raw_request(port, "POST /__test/wait HTTP/1.1\nHost: x\nContent-Length: 0")
    wait_for(lambda: len(started) == 2, BOUND, "both requests to be in their views")
    stopper = gevent.spawn(graceful_stop, app, [server], server.drain, 0.2)
    cut = read_until(waiting, BOUND)  # at the end of the grace period
    assert cut.startswith(b"HTTP/1.1 503") and b'"code":"shutting_down"' in cut, cut
    assert not stopper.ready(), stopper.exception  # the committed one is still given time
    release.set()
    answer = read_until(committed, BOUND)
    assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower(), answer
    stopper.get(timeout=BOUND)


def test_idle_keep_alive_connections_close_at_once_and_answers_say_connection_close(app) -> None:
    release = gevent.event.Event()
    started: list[bool] = []

    @app.get("/__test/slow")
    def slow() -> dict[str, bool]:
        started.append(True)
        release.wait(BOUND * 2)
        return {"done": True}

    server = _serve(app)
    port = server.server_port
    idle = raw_request(port, "GET /api/v1/auth/me HTTP/1.1\nHost: x")
    assert read_until(idle, BOUND, lambda data: data.endswith(b"}\n")).startswith(b"HTTP/1.1 401")
    busy = raw_request(port, "GET /__test/slow HTTP/1.1\nHost: x")
    wait_for(lambda: started, BOUND, "the slow request to start")
    stopper = gevent.spawn(graceful_stop, app, [server], server.drain, BOUND * 4)
    assert read_until(idle, BOUND) == b"", "the idle connection is closed, without a word"
    release.set()
    answer = read_until(busy, BOUND)
    assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower(), answer
    stopper.get(timeout=BOUND)
