"""The short soak: exact delivery invariants under random reconnects, then no leaks."""

from __future__ import annotations

import gc
import os
import random
import resource

import gevent
import pytest
from greenlet import greenlet

from itcook.realtime.events import Event
from tests.realtime.conftest import wait_for
from tests.realtime.wsclient import Api, ws_connect
from tests.reliability import harness

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
    rng = random.Random(20261126)
    api = Api(live_server)
    users = [api.register(f"soak{n}") for n in range(6)]
    posts = [api.call("POST", "/community/posts", users[0], expect=201,
                      json={"content": f"p{n}"}).json()["id"] for n in range(3)]
    rt = live_server.state
    warm = ws_connect(live_server, users[0]["access_token"])
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
    clients = harness.make_clients(users, posts, 40, rng)
    start_id = rt.history.bounds()[1]
    readers = [gevent.spawn(harness.run_client, c, [live_server], random.Random(n), 0.02)
               for n, c in enumerate(clients)]
    wait_for(lambda: len(rt.hub.connections) >= len(clients), timeout=15, what="every client connected")
    make_event = harness.random_events(rng, [u["user"]["id"] for u in users], posts)

    def publisher(count: int, seed: int) -> None:
        local = random.Random(seed)
        with live_server.app.app_context():
            for _ in range(count):
                channel, event_type, data = make_event()
                rt.publish_event(Event(type=event_type, channel=channel, data=data))
                gevent.sleep(local.random() * 0.004)

    publishers = [gevent.spawn(publisher, 150, seed) for seed in range(4)]
    gevent.joinall(publishers, timeout=60, raise_error=True)
    gevent.killall(readers, timeout=10)
    log = harness.logged_events(live_server.app.config["SQLALCHEMY_DATABASE_URI"], start_id)
    assert len(log) == 600
    for client in clients:
        harness.drain(client, live_server, [i for i, ch in log if ch in client.keys])
    summary = harness.check(clients, log)
    assert summary["reconnects"] > 20, "the soak did not exercise resume"
    print("soak summary:", summary)

    wait_for(lambda: not rt.hub.connections and not rt.hub.channels and not rt.hub.replaying,
             timeout=10, what="hub to drain to zero")
    assert len(rt.typing) == 0
    wait_for(lambda: _fds() <= fds + FD_MARGIN, timeout=10, what="descriptors back to the start level")
    wait_for(lambda: _greenlets() <= greenlets + GREENLET_MARGIN, timeout=10,
             what="greenlets back to the start level")
    assert _rss_kb() - rss < RSS_MARGIN_KB
