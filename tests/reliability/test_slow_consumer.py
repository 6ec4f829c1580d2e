"""One client that stops reading among two hundred that read (AnyCable's slow-client test).

Asserted: every fast client gets every event in order; the slow one is closed with 4002 once its
backlog limit is hit, and no connection ever holds more than that limit. The extra latency the
slow client costs the fast ones is measured and printed (tests assert no durations; the figure
is recorded in docs/BENCHMARKS.md), against the same run without it.
"""

from __future__ import annotations

import statistics
import time

import gevent
import pytest

from itcook.realtime.events import Event
from tests.support.frames import raw_handshake
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect

FAST_CLIENTS, EVENTS = 200, 80
LIMIT = 256 * 1024


def _run(server, users, with_slow: bool) -> list[float]:
    rt = server.state
    fast = [ws_connect(server, users[n % (len(users) - 1)]["access_token"]) for n in range(FAST_CLIENTS)]
    slow = None
    stalled = users[-1]  # the fast clients are the other users
    if with_slow:
        slow, head = raw_handshake(server.port, rcvbuf=4096,
                                   headers={"Authorization": f"Bearer {stalled['access_token']}"})
        assert head.startswith("HTTP/1.1 101")
    wait_for(lambda: len(rt.hub.connections) == FAST_CLIENTS + with_slow, timeout=20, what="connections")
    sent_at: dict[int, float] = {}
    lateness: list[float] = []
    peak_backlog = 0

    def reader(client) -> None:
        for n in range(EVENTS):
            frame = client.recv(timeout=20)
            assert frame["data"]["n"] == n
            lateness.append(time.monotonic() - sent_at[n])

    readers = [gevent.spawn(reader, c) for c in fast]
    with server.app.app_context():
        for n in range(EVENTS):
            sent_at[n] = time.monotonic()
            rt.publish_event(Event(type="SystemNotification", channel="system",
                                   data={"title": "t", "message": "x" * 200, "level": "info", "n": n}))
            # Large events for the stalled user alone: more than the kernel buffers can absorb.
            rt.publish_event(Event(type="SystemNotification", channel=f"user:{stalled['user']['id']}",
                                   data={"title": "big", "message": "y" * 100_000, "level": "info"}))
            peak_backlog = max([peak_backlog] + [c.backlog_bytes for c in rt.hub.connections])
            gevent.sleep(0.005)
    gevent.joinall(readers, timeout=60, raise_error=True)
    assert peak_backlog <= LIMIT
    if with_slow:
        wait_for(lambda: rt.hub.stats.disconnects["slow_consumer"] == 1, timeout=10, what="slow close")
        slow.close()
    for client in fast:
        client.close()
    wait_for(lambda: not rt.hub.connections, timeout=20, what="everyone gone")
    return lateness


@pytest.mark.realtime_config(REALTIME_SEND_BUFFER_BYTES=LIMIT, REALTIME_MAX_CONNECTIONS_PER_USER=1000)
def test_one_stalled_client_among_two_hundred(live_server) -> None:
    api = Api(live_server)
    users = [api.register(f"reader{n}") for n in range(5)]
    baseline = _run(live_server, users, with_slow=False)
    with_slow = _run(live_server, users, with_slow=True)

    def p99(values: list[float]) -> float:
        return statistics.quantiles(values, n=100)[98] * 1000

    print(f"fast clients' p99 lateness: {p99(baseline):.1f} ms alone, {p99(with_slow):.1f} ms beside a "
          f"stalled client ({len(with_slow)} deliveries)")
