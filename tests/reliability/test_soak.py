"""The short soak: exact delivery invariants under random reconnects, then no leaks."""

from __future__ import annotations

import gc
import os
import resource

import gevent
import pytest
from greenlet import greenlet

from tests.support import soak
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect

#: What "returns to its starting level" allows: a few pooled sockets and greenlets, and memory
#: the allocator keeps (RSS rarely shrinks after a peak).
FD_MARGIN, GREENLET_MARGIN, RSS_MARGIN_KB = 6, 6, 40_000


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _greenlets() -> int:
    count = 0
    for obj in gc.get_objects():
        try:
            count += isinstance(obj, greenlet) and not obj.dead
        except ReferenceError:
            pass
    return count


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


@pytest.mark.realtime_config(REALTIME_MAX_CONNECTIONS_PER_USER=100, REALTIME_SSE_KEEPALIVE_INTERVAL=0.5,
                             REALTIME_REPLAY_BATCH=4)
def test_short_soak_every_client_gets_exactly_its_events(live_server) -> None:
    api = Api(live_server)
    rt = live_server.state
    warm = ws_connect(live_server, api.register("warm")["access_token"])
    warm.close()
    wait_for(lambda: not rt.hub.connections, what="warm-up to leave")
    gc.collect()
    fds, greenlets, rss = _fds(), _greenlets(), _rss_kb()

    if rt.history.engine.dialect.name == "sqlite":
        # SQLite reads never yield to other greenlets; a database server's round trips do. Give
        # the log reads that latency so events keep landing while clients replay.
        real_replay = rt.history.replay

        def replay_with_round_trip(*args, **kwargs):
            gevent.sleep(0.002)
            events = real_replay(*args, **kwargs)
            gevent.sleep(0.002)
            return events

        rt.history.replay = replay_with_round_trip
    summary = soak.run_soak(live_server, clients_count=40, events_per_publisher=150)
    assert summary["reconnects"] > 20, "the soak did not exercise resume"
    print("soak summary:", summary)

    wait_for(lambda: not rt.hub.connections and not rt.hub.channels and not rt.hub.replaying,
             timeout=10, what="hub to drain to zero")
    assert len(rt.typing) == 0
    # Pooled database connections are the pool's, not any client's (PostgreSQL opens more of
    # them under load): close them before counting what the clients left behind.
    from itcook.extensions import db

    with live_server.app.app_context():
        db.engine.dispose()
    wait_for(lambda: _fds() <= fds + FD_MARGIN, timeout=10, what="descriptors back to the start level")
    wait_for(lambda: _greenlets() <= greenlets + GREENLET_MARGIN, timeout=10,
             what="greenlets back to the start level")
    assert _rss_kb() - rss < RSS_MARGIN_KB
