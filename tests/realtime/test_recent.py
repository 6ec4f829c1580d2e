"""The window of recent events: complete from its floor up, or it declines and the log answers."""

from __future__ import annotations

import random

from itcook.realtime.events import Encoded, Event
from itcook.realtime.recent import RecentEvents
from tests.support.rest import Api
from tests.support.sse import read_sse_until, sse_fields
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


def _event(event_id: int, channel: str = "system") -> Event:
    return Event(type="SystemNotification", channel=channel,
                 data={"title": str(event_id), "message": "m", "level": "info"}, id=event_id)


def _ids(events: list[Encoded] | None) -> list[int] | None:
    return None if events is None else [e.event.id for e in events]


def test_window_starts_at_the_first_event_it_sees() -> None:
    window = RecentEvents(10)
    assert window.after(0) is None  # nothing seen: it cannot tell what was missed
    for event_id in (5, 6, 7):
        window.add(_event(event_id))
    assert _ids(window.after(4)) == [5, 6, 7]
    assert _ids(window.after(6)) == [7]
    assert _ids(window.after(7)) == []
    assert window.after(3) is None  # event 4 or lower may have been missed: the log decides
    assert window.after(8) is None  # an id this process has not dispatched yet


def test_a_hole_restarts_the_window_after_it() -> None:
    """Event 8 never reached this process (a failed publish): a resume from before it reads the log."""
    window = RecentEvents(10)
    for event_id in (5, 6, 7, 9, 10):
        window.add(_event(event_id))
    assert window.after(7) is None and window.after(6) is None
    assert _ids(window.after(8)) == [9, 10]


def test_size_bound_moves_the_floor() -> None:
    window = RecentEvents(3)
    for event_id in range(1, 11):
        window.add(_event(event_id))
    assert len(window) <= 6  # compaction slack
    assert _ids(window.after(7)) == [8, 9, 10]
    assert window.after(6) is None
    assert len(window) == 3


def test_age_bound_moves_the_floor() -> None:
    now = [100.0]
    window = RecentEvents(100, max_age=10.0, clock=lambda: now[0])
    window.add(_event(1))
    now[0] = 105.0
    window.add(_event(2))
    now[0] = 111.0  # event 1 is past the retention age, event 2 is not
    assert window.after(0) is None
    assert _ids(window.after(1)) == [2]
    now[0] = 200.0
    assert _ids(window.after(2)) == []  # everything expired: still nothing after the newest


def test_out_of_order_or_reset_empties_the_window() -> None:
    window = RecentEvents(10)
    for event_id in (1, 2, 3):
        window.add(_event(event_id))
    window.add(_event(2))  # out of order: 3 went by before it, so "all above 1" would be false
    assert window.after(1) is None and window.after(2) is None and window.after(3) is None
    window.add(_event(4))
    assert _ids(window.after(3)) == [4] and window.after(2) is None
    window.reset()
    assert window.after(2) is None
    window.add(_event(8))
    assert _ids(window.after(7)) == [8] and window.after(6) is None


def test_unencoded_events_are_encoded_once_on_demand() -> None:
    window = RecentEvents(10)
    plain = _event(1)
    window.add(plain)
    encoded = Encoded(_event(2))
    window.add(encoded)
    first = window.after(0)
    assert first is not None and first[1] is encoded
    assert window.after(0)[0] is first[0]  # type: ignore[index]
    assert first[0].event is plain and first[0].ws == Encoded(plain).ws
    assert RecentEvents(0).after(0) is None  # size 0: off
    assert Event(type="UserTyping", channel="post:1", data={}).id is None
    window.add(Event(type="UserTyping", channel="post:1", data={}, durable=False))  # not kept
    assert _ids(window.after(0)) == [1, 2]


def test_window_agrees_with_the_log(live_server) -> None:
    """For random resume points and channel sets, the window gives what the log gives."""
    rt = live_server.state
    rng = random.Random(7)
    channels = ["system", "community", "user:1", "user:2", "post:3"]
    with live_server.app.app_context():
        rt.publish_event(_event_without_id("system"))  # arms the window (an event dispatched)
        for _ in range(300):
            last = rt.publish_event(_event_without_id(rng.choice(channels)))
    wait_for(lambda: rt.hub.recent.newest == last.id, what="the dispatcher")
    wanted_ids = [e.id for e in rt.history.replay(channels, 0, 10_000)]
    oldest = rt.hub.recent.floor
    assert oldest is not None and oldest < wanted_ids[0]
    for _ in range(200):
        after = rng.choice(wanted_ids)
        subset = set(rng.sample(channels, rng.randint(1, len(channels))))
        from_window = [e.event.id for e in rt.hub.recent.after(after) or [] if e.event.channel in subset]
        from_log = [e.id for e in rt.history.replay(sorted(subset), after, 10_000)]
        assert from_window == from_log


def _event_without_id(channel: str) -> Event:
    return Event(type="SystemNotification", channel=channel,
                 data={"title": "t", "message": "m", "level": "info"})


def test_broker_resync_empties_the_window(live_server) -> None:
    """After a broker outage the window may miss events: resumes go to the log until it refills."""
    rt = live_server.state
    anna = Api(live_server).register("anna")
    with live_server.app.app_context():
        first = rt.publish_event(_event_without_id("system"))
        second = rt.publish_event(_event_without_id("system"))
    wait_for(lambda: rt.hub.recent.newest == second.id, what="the dispatcher")
    assert rt.hub.recent.after(first.id) is not None
    rt.resync()
    assert rt.hub.recent.after(first.id) is None
    client = ws_connect(live_server, anna["access_token"], query=f"?last_event_id={first.id}")
    assert client.recv()["type"] == "SystemNotification"
    recovery = client.recv()
    assert recovery["type"] == "Recovery" and recovery["data"]["recovered"] is True
    assert rt.hub.stats.replays_from_memory == 0  # the log answered
    client.close()


def test_a_broker_outage_during_a_replay_is_caught_up_from_the_log(live_server) -> None:
    """An event published while the broker was down reached neither the window nor the held
    events of a connection that was replaying: the replay reads the log once more."""
    import socket

    from itcook.realtime import resume
    from itcook.realtime.connection import SSE, Connection

    rt = live_server.state
    # A real account: the resync re-checks every live user, and closes unknown ones (4003).
    anna = Api(live_server).register("anna")["user"]
    with live_server.app.app_context():
        first = rt.publish_event(_event_without_id("system"))
        second = rt.publish_event(_event_without_id("system"))
    wait_for(lambda: rt.hub.recent.newest == second.id, what="the dispatcher")
    mine, theirs = socket.socketpair()
    conn = Connection(mine, anna["id"], "anna", SSE, max_bytes=1 << 20, max_frames=1000)
    rt.hub.add(conn)
    lost: list[int] = []
    window_after = rt.hub.recent.after

    def outage_after_the_snapshot(event_id: int):
        snapshot = window_after(event_id)
        # Logged while the broker was down (never dispatched here), then the resync.
        from sqlalchemy.orm import Session

        with Session(rt.outbox.engine) as session:
            event = _event_without_id("system")
            rt.outbox.write(session, event)
            session.commit()
        lost.append(event.id)
        rt.resync()
        return snapshot

    rt.hub.recent.after = outage_after_the_snapshot
    rt.hub.begin_replay(conn, ["system"])
    conn.last_event_id = first.id
    resume.catch_up(rt, conn)
    ids = [int(i) for i in sse_fields(read_sse_until(theirs, b"event: Recovery"), "id")]
    assert ids == [second.id, lost[0]]
