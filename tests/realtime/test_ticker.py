"""The ticker's work on every connection: the idle sweep and heartbeats, without stalling others."""

from __future__ import annotations

import socket
from collections.abc import Callable

import gevent
import pytest

from itcook.realtime.connection import SSE, WS, Connection
from itcook.realtime.hub import Hub
from itcook.realtime.ticker import WRITE_SLICE, write_in_slices


class Pair:
    """A hub connection over a real socket pair and the client end of it."""

    def __init__(self, hub: Hub, transport: str = WS) -> None:
        server, self.client = socket.socketpair()
        server.setblocking(False)
        self.client.setblocking(False)
        self.conn = Connection(server, 1, "u", transport, max_bytes=1 << 20, max_frames=1000)
        hub.add(self.conn)

    def received(self) -> bytes:
        """Everything written to this connection so far (non-blocking)."""
        data = b""
        try:
            while chunk := self.client.recv(1 << 16):
                data += chunk
        except BlockingIOError:
            pass
        return data

    def close(self) -> None:
        self.client.close()
        self.conn.sock.close()


@pytest.fixture
def pairs():
    made: list[Pair] = []
    yield made
    for pair in made:
        pair.close()


def test_idle_lists_only_the_silent_websockets_oldest_first(pairs) -> None:
    hub = Hub()
    a, b, c = (Pair(hub) for _ in range(3))
    sse = Pair(hub, SSE)
    pairs.extend([a, b, c, sse])
    start = max(p.conn.last_seen for p in (a, b, c, sse))
    hub.heard_from(a.conn, start + 5)  # a spoke: it moves behind b and c
    hub.heard_from(sse.conn, start + 5)  # an SSE stream is never idle-closed, however quiet
    assert hub.idle(start + 4, 10) == []
    assert hub.idle(start + 11, 10) == [b.conn, c.conn]
    assert hub.idle(start + 16, 10) == [b.conn, c.conn, a.conn]
    hub.remove(b.conn, "normal")
    assert hub.idle(start + 16, 10) == [c.conn, a.conn]


def test_idle_sweep_stops_at_the_first_connection_still_in_time(pairs) -> None:
    """It reads the silent connections and one more, not all of them: O(closed), not O(connected)."""
    hub = Hub()
    pairs.extend(Pair(hub) for _ in range(50))
    now = max(p.conn.last_seen for p in pairs)
    for pair in pairs[2:]:
        hub.heard_from(pair.conn, now + 100)
    # Past the first connection in time, nothing is read: this one's stale clock stays unseen
    # (it cannot happen for real: hearing from a connection moves it to the end).
    pairs[-1].conn.last_seen = now
    assert hub.idle(now + 50, 30) == [pairs[0].conn, pairs[1].conn]
    assert hub.idle(now + 200, 30) == [p.conn for p in pairs]


def test_heartbeats_reach_every_connection_of_their_transport(pairs) -> None:
    hub = Hub()
    ws = [Pair(hub) for _ in range(WRITE_SLICE + 3)]
    sse = [Pair(hub, SSE) for _ in range(5)]
    pairs.extend(ws + sse)
    assert write_in_slices(hub.connections, b"beat", b"") == len(ws)
    assert {p.received() for p in ws} == {b"beat"} and {p.received() for p in sse} == {b""}
    assert write_in_slices(hub.connections, b"", b": keep-alive\n\n") == len(sse)
    assert {p.received() for p in sse} == {b": keep-alive\n\n"} and {p.received() for p in ws} == {b""}


def _heartbeat_with_a_reader(hub: Hub, action: Callable[[], None]) -> int:
    """``write_in_slices`` to every connection of ``hub`` while a greenlet waits on a socket
    that is already readable (as a request handler would); it runs ``action`` when it wakes,
    which it can only do in a pause between slices. Returns the writes made."""
    request_end, request = socket.socketpair()

    def serve() -> None:
        request.recv(16)
        action()

    try:
        waiter = gevent.spawn(serve)
        gevent.idle()  # it has started and blocks on the read
        request_end.sendall(b"GET")
        written = write_in_slices(hub.connections, b"beat", b"")
        waiter.join(timeout=5)
        assert waiter.dead
        return written
    finally:
        request_end.close()
        request.close()


def _last_written(pairs: list[Pair], hub: Hub) -> Pair:
    """The pair whose connection ``write_in_slices`` writes to last (it follows this order)."""
    last = tuple(hub.connections)[-1]
    return next(p for p in pairs if p.conn is last)


def test_heartbeats_let_other_greenlets_do_their_io_between_slices(pairs) -> None:
    """A heartbeat to many sockets is written a slice at a time: a greenlet waiting for a socket
    (a request that publishes an event, say) runs before the last slice, not after all of them."""
    hub = Hub()
    pairs.extend(Pair(hub) for _ in range(3 * WRITE_SLICE))
    last = _last_written(pairs, hub)
    seen: list[bytes] = []
    # The last connection's heartbeat, as the woken greenlet finds it: not yet written.
    assert _heartbeat_with_a_reader(hub, lambda: seen.append(last.received())) == len(pairs)
    assert seen == [b""]
    assert last.received() == b"beat"


def test_stats_counters_match_a_full_count_after_any_sequence(pairs) -> None:
    """The report reads counters kept as members come and go: they must equal a full count."""
    import random
    from collections import Counter

    hub = Hub()
    rng = random.Random(3)
    channels = ["system", "community", "user:1", "user:2", "post:5"]
    for _ in range(40):
        pairs.append(Pair(hub, rng.choice((WS, WS, SSE))))
    live = [p.conn for p in pairs]
    for _ in range(2000):
        conn = rng.choice(live)
        op = rng.randrange(6)
        if conn not in hub.connections:
            continue
        if op == 0:
            hub.subscribe(conn, rng.choice(channels))
        elif op == 1:
            hub.unsubscribe(conn, rng.choice(channels))
        elif op == 2 and conn.replay_buffer is None:
            hub.pause(conn)
        elif op == 3 and conn.replay_buffer is not None:
            hub.end_replay(conn)
        elif op == 4 and rng.random() < 0.1:
            hub.remove(conn, "normal")
        elif op == 5:
            hub.revoke(rng.choice(channels), None)
        counted: Counter[str] = Counter()
        for channel, members in hub.channels.items():
            counted["personal" if channel.startswith("user:") else channel] += len(members)
        snap = hub.snapshot()
        assert snap["subscribers_by_channel"] == dict(counted) and all(hub.live_by_kind.values())
        assert snap["connections_by_transport"] == {
            WS: sum(c.transport == WS for c in hub.connections),
            SSE: sum(c.transport == SSE for c in hub.connections)}


def test_a_connection_closed_before_it_joined_stays_out_of_every_channel(pairs) -> None:
    """Its first write failed (the peer was gone) and it left the hub: the join that follows in
    its session must not put it back on a channel, where nothing would ever remove it."""
    hub = Hub()
    gone = Pair(hub)
    pairs.append(gone)
    hub.remove(gone.conn, "normal")
    hub.begin_replay(gone.conn, ["system", "user:1"])
    hub.end_replay(gone.conn)
    hub.subscribe(gone.conn, "community")
    assert hub.channels == {} and hub.replaying == {} and not hub.live_by_kind
    assert hub.snapshot()["connections_by_transport"] == {WS: 0, SSE: 0}


def test_a_connection_that_leaves_during_a_pause_gets_no_heartbeat(pairs) -> None:
    """Its session may already have written a close frame: nothing may follow it."""
    hub = Hub()
    # Three slices, two pauses: the loop may resume the writer before the reader in the first.
    pairs.extend(Pair(hub) for _ in range(3 * WRITE_SLICE))
    last = _last_written(pairs, hub)
    # A session that ends while the heartbeat pauses.
    assert _heartbeat_with_a_reader(hub, lambda: hub.remove(last.conn, "normal")) == len(pairs) - 1
    assert last.received() == b""
