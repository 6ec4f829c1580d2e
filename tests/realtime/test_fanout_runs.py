"""Runs of events written at once: the same frames, in order, once, to exactly the right sockets."""

from __future__ import annotations

import socket

from itcook.realtime.connection import SSE, WS, Connection
from itcook.realtime.events import Event
from itcook.realtime.hub import Hub
from itcook.realtime.recent import RecentEvents
from tests.support.frames import TEXT, RawWs
from tests.support.sse import sse_fields


def _events(first_id: int, count: int, channel: str = "system", **extra) -> list[Event]:
    return [Event(type="SystemNotification", channel=channel, id=first_id + n,
                  data={"title": str(first_id + n), "message": "m", "level": "info"}, **extra)
            for n in range(count)]


class Peer:
    """A hub connection over a real socket pair, and the client end that reads what it got."""

    def __init__(self, hub: Hub, transport: str = WS, user_id: int = 1, channel: str = "system") -> None:
        server, client = socket.socketpair()
        server.setblocking(False)
        self.conn = Connection(server, user_id, "u", transport, max_bytes=1 << 20, max_frames=1000)
        hub.add(self.conn)
        hub.subscribe(self.conn, channel)
        self.reader = RawWs.over(client)  # the strict frame parser of the security tests
        self.seen: list[int] = []

    def ids(self) -> list[int]:
        """The ids of every frame written so far (WebSocket frames or SSE messages)."""
        self.reader.sock.setblocking(False)
        try:
            while chunk := self.reader.sock.recv(1 << 16):
                self.reader.buf += chunk
        except BlockingIOError:
            pass
        if self.conn.transport == SSE:
            return [int(i) for i in sse_fields(self.reader.buf.decode(), "id")]
        while self.reader.buf:  # the hub writes whole frames: every one is complete here
            frame = self.reader.next_frame(timeout=1)
            assert frame is not None and frame.opcode == TEXT
            self.seen.append(frame.json()["id"])
        return self.seen


def test_a_run_reaches_every_subscriber_once_in_order() -> None:
    hub = Hub(recent=RecentEvents(100))
    fresh, sse, behind, edge = Peer(hub), Peer(hub, SSE), Peer(hub), Peer(hub)
    other = Peer(hub, channel="community")
    # A replay already wrote up to id 13 to this one: it must get 14.. only, no repeats.
    behind.conn.last_event_id = 13
    edge.conn.last_event_id = 10  # ... and up to the run's first id to this one
    run = _events(10, 8)
    assert hub.fanout_run(run) == 8 + 8 + 4 + 7
    assert edge.ids() == list(range(11, 18))
    assert fresh.ids() == sse.ids() == list(range(10, 18))
    assert behind.ids() == list(range(14, 18))
    assert other.ids() == []
    assert hub.stats.events_by_type["SystemNotification"] == 8
    assert hub.stats.deliveries_total == 27
    assert [e.event.id for e in hub.recent.after(9) or []] == list(range(10, 18))  # kept for resumes
    # The next run goes on from there; a single event too.
    hub.fanout_run(_events(18, 3))
    hub.fanout_run(_events(21, 1))
    assert fresh.ids() == list(range(10, 22)) and behind.ids() == list(range(14, 22))


def test_a_run_with_an_excluded_user_or_held_connection_goes_one_by_one() -> None:
    hub = Hub()
    anna, bob = Peer(hub, user_id=1), Peer(hub, user_id=2)
    mixed = _events(1, 2) + _events(3, 1, exclude_user=2) + _events(4, 2)
    hub.fanout_run(mixed)
    assert anna.ids() == [1, 2, 3, 4, 5]
    assert bob.ids() == [1, 2, 4, 5]
    # A connection replaying holds the run (it is written after the replay, minus repeats).
    late = Peer(hub, user_id=3)
    hub.unsubscribe(late.conn, "system")
    hub.begin_replay(late.conn, ["system"])
    hub.fanout_run(_events(6, 3))
    assert late.ids() == []
    late.conn.last_event_id = 6  # as if the replay had written up to 6
    hub.end_replay(late.conn)
    assert late.ids() == [7, 8]
    hub.fanout_run(_events(9, 2))
    assert late.ids() == [7, 8, 9, 10] and anna.ids() == list(range(1, 11))


def test_a_run_with_a_repeated_or_lower_id_goes_one_by_one() -> None:
    """A broker retry can deliver an event twice: the repeat is dropped by id, as one by one."""
    hub = Hub()
    peer = Peer(hub)
    events = _events(1, 2)
    hub.fanout_run(events + [events[1]] + _events(3, 1))
    assert peer.ids() == [1, 2, 3]


def test_a_channel_subscribed_while_catching_up_waits_for_the_replay() -> None:
    """Subscribe during a replay (or a resync's pause): its live events must not overtake the replay."""
    hub = Hub()
    peer = Peer(hub)
    hub.pause(peer.conn)  # as a resync does: live events of its channels are held
    hub.subscribe(peer.conn, "community")
    hub.fanout_run(_events(5, 2, channel="community"))
    assert peer.ids() == []  # held, not written ahead of what the catch-up will write
    hub.end_replay(peer.conn)
    assert peer.ids() == [5, 6]
    hub.fanout_run(_events(7, 1, channel="community"))
    assert peer.ids() == [5, 6, 7]
