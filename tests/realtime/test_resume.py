"""Nothing lost: resume after a reconnect on both transports, the seam, retention, restarts."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

from itcook import create_app
from itcook.realtime.events import Event
from itcook.realtime.recent import RecentEvents
from tests.support.rest import Api
from tests.support.servers import LiveServer
from tests.support.sse import SseStream
from tests.support.streams import TRANSPORTS, Stream
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


@pytest.fixture(params=["memory", "log"])
def source(request: pytest.FixtureRequest, live_server: LiveServer) -> Any:
    """Where resumes are served from: the window of recent events (the default), or the log.

    Each test that takes this fixture runs both ways, and afterwards checks which one answered.
    """
    stats = live_server.state.hub.stats
    if request.param == "log":
        live_server.state.hub.recent = RecentEvents(0)  # an empty window: every resume reads the log
    yield request.param
    # The window answers every resume it covers (all that recover here); the log the others.
    expected = stats.replays["recovered"] if request.param == "memory" else 0
    assert stats.replays_from_memory == expected


def _publish_every_type(rt, me: int, other: int, tag: str) -> None:
    """One event of each durable type on my channels, and personal ones of another user."""
    mine = [
        ("community", "NewCommunityPost", {"post_id": 1, "author_id": other, "author_name": "o",
                                           "content": tag}),
        (f"user:{me}", "PostLiked", {"post_id": 1, "user_id": other, "user_name": "o", "likes_count": 1}),
        (f"user:{me}", "NewComment", {"comment_id": 1, "post_id": 1, "author_id": other,
                                      "author_name": "o", "content": tag}),
        (f"user:{me}", "NewFollower", {"follower_id": other, "follower_name": "o"}),
        (f"user:{me}", "ExpiringItems", {"items": [], "days": 3}),
        (f"user:{me}", "GoalAchieved", {"goal_id": 1, "title": tag}),
        (f"user:{me}", "RecipeGenerated", {"job_id": "j", "recipe_id": 1, "title": tag}),
        ("system", "SystemNotification", {"title": tag, "message": "m", "level": "info"}),
    ]
    for channel, event_type, data in mine:
        rt.publish_event(Event(type=event_type, channel=channel, data=data))
        rt.publish_event(Event(type="GoalAchieved", channel=f"user:{other}",
                               data={"goal_id": 2, "title": "not yours"}))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reconnect_gets_exactly_the_missed_events_then_live(live_server, transport, source) -> None:
    api = Api(live_server)
    anna, bob = api.register("anna"), api.register("bob")
    rt = live_server.state
    stream = Stream(transport, live_server, anna["access_token"])
    wait_for(lambda: rt.hub.connections, what="stream")
    with live_server.app.app_context():
        rt.publish_event(Event(type="SystemNotification", channel="system",
                               data={"title": "seen", "message": "m", "level": "info"}))
    last = stream.frame()["id"]
    stream.close()
    wait_for(lambda: not rt.hub.connections, what="disconnect")
    with live_server.app.app_context():
        _publish_every_type(rt, anna["user"]["id"], bob["user"]["id"], "missed")
    stream = Stream(transport, live_server, anna["access_token"], query=f"?last_event_id={last}")
    missed = [stream.frame() for _ in range(8)]
    assert [f["type"] for f in missed] == ["NewCommunityPost", "PostLiked", "NewComment", "NewFollower",
                                           "ExpiringItems", "GoalAchieved", "RecipeGenerated",
                                           "SystemNotification"]
    ids = [f["id"] for f in missed]
    assert ids == sorted(ids) and ids[0] > last
    assert all(f["data"].get("title") != "not yours" for f in missed)
    recovery = stream.frame()
    assert recovery["type"] == "Recovery"
    assert recovery["data"] == {"recovered": True, "last_event_id": last, "replayed": 8}
    with live_server.app.app_context():
        rt.publish_event(Event(type="SystemNotification", channel="system",
                               data={"title": "live", "message": "m", "level": "info"}))
    live = stream.frame()
    assert live["data"]["title"] == "live" and live["id"] > ids[-1]
    stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_last_event_id_header_on_both_transports(live_server, transport, source) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    rt = live_server.state
    with live_server.app.app_context():
        first = rt.publish_event(Event(type="SystemNotification", channel="system",
                                       data={"title": "1", "message": "m", "level": "info"}))
        rt.publish_event(Event(type="SystemNotification", channel="system",
                               data={"title": "2", "message": "m", "level": "info"}))
    if transport == "sse":
        stream = SseStream(live_server, anna["access_token"], headers={"Last-Event-ID": str(first.id)})
        assert stream.next()["frame"]["data"]["title"] == "2"
    else:
        client = ws_connect(live_server, anna["access_token"], headers={"Last-Event-ID": str(first.id)})
        assert client.recv()["data"]["title"] == "2"
        client.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.realtime_config(REALTIME_REPLAY_BATCH=8)
def test_seam_has_no_gap_and_no_duplicate(live_server, transport, source) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    rt = live_server.state
    stop = gevent.event.Event()
    published: list[int] = []

    def publisher() -> None:
        with live_server.app.app_context():
            n = 0
            while not stop.is_set() and n < 5000:
                published.append(rt.publish_event(Event(
                    type="SystemNotification", channel="system",
                    data={"title": str(n), "message": "m", "level": "info"})).id)
                n += 1
                # A short pause: a replay's pauses (between its batches) let events in, so they
                # reach the hub while the connection is still replaying, yet it can catch up.
                gevent.sleep(0.002)

    # Reads of the log take time, as a database round trip does (SQLite's do not yield at all):
    # events land before a read (the replay also gets them: duplicates to drop) and after a
    # read's snapshot (only the held live copy has them: a gap unless end_replay sends them).
    # The window of recent events is read in memory (no yield at all): it gets the same delays.
    def slowed(read: Any) -> Any:
        def slow_read(*args: Any, **kwargs: Any) -> Any:
            gevent.sleep(0.003)
            events = read(*args, **kwargs)
            gevent.sleep(0.003)
            return events
        return slow_read

    rt.history.replay = slowed(rt.history.replay)
    rt.hub.recent.after = slowed(rt.hub.recent.after)
    worker = gevent.spawn(publisher)
    wait_for(lambda: len(published) >= 20, what="first events")
    received: list[int] = []
    last = published[0]
    seams_with_held_events = 0
    for _round in range(10):
        held_before = rt.hub.stats.held_events
        stream = Stream(transport, live_server, anna["access_token"], query=f"?last_event_id={last}")
        live_after_seam = None
        for _ in range(5000):  # bounded: the replay, the Recovery frame, then ten live events
            frame = stream.frame()
            if frame["type"] == "Recovery":
                assert frame["data"]["recovered"] is True
                live_after_seam = 0
                continue
            received.append(frame["id"])
            if live_after_seam is not None:
                live_after_seam += 1
                if live_after_seam == 10:
                    break
        assert live_after_seam == 10
        last = received[-1]
        seams_with_held_events += rt.hub.stats.held_events > held_before
        stream.close()
    stop.set()
    worker.join(timeout=10)
    expected = [i for i in published if published[0] < i <= received[-1]]
    assert received == expected, "a gap or a duplicate at a seam"
    assert seams_with_held_events >= 3, "the test did not exercise the replay-to-live seam"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.realtime_config(REALTIME_RETENTION_COUNT=3)
def test_retention_exceeded_reports_incomplete_recovery_then_live(live_server, transport, source) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    rt = live_server.state
    with live_server.app.app_context():
        old = rt.publish_event(Event(type="SystemNotification", channel="system",
                                     data={"title": "old", "message": "m", "level": "info"}))
        for n in range(5):
            rt.publish_event(Event(type="SystemNotification", channel="system",
                                   data={"title": f"new{n}", "message": "m", "level": "info"}))
        assert rt.history.prune(0, rt.config["retention_count"]) == 3
    stream = Stream(transport, live_server, anna["access_token"], query=f"?last_event_id={old.id}")
    recovery = stream.frame()
    assert recovery["type"] == "Recovery" and recovery["data"]["recovered"] is False
    with live_server.app.app_context():
        rt.publish_event(Event(type="SystemNotification", channel="system",
                               data={"title": "live", "message": "m", "level": "info"}))
    assert stream.frame()["data"]["title"] == "live"
    stream.close()
    assert rt.hub.stats.replays["incomplete"] == 1


def test_unknown_future_id_is_incomplete(live_server, source) -> None:
    anna = Api(live_server).register("anna")
    stream = Stream("websocket", live_server, anna["access_token"], query="?last_event_id=999999")
    assert stream.frame()["data"]["recovered"] is False
    stream.close()


def test_isolation_replay_never_shows_other_users_personal_events(live_server, source) -> None:
    api = Api(live_server)
    anna, bob = api.register("anna"), api.register("bob")
    rt = live_server.state
    with live_server.app.app_context():
        for n in range(20):
            rt.publish_event(Event(type="NewFollower", channel=f"user:{bob['user']['id']}",
                                   data={"follower_id": n, "follower_name": "x"}))
    # Even asking for every channel it can name, anna's replay has nothing of bob's.
    stream = Stream("websocket", live_server, anna["access_token"], query="?last_event_id=0")
    recovery = stream.frame()
    assert recovery["type"] == "Recovery" and recovery["data"]["replayed"] == 0
    stream.close()


def test_process_restart_loses_nothing(app_config) -> None:
    first_app = create_app(app_config)
    with first_app.app_context():
        from itcook.extensions import db

        db.drop_all()
        db.create_all()
    first = LiveServer(first_app)
    api = Api(first)
    anna = api.register("anna")
    stream = Stream("websocket", first, anna["access_token"])
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "before"})
    last = stream.frame()["id"]
    stream.close()
    for n in range(3):
        api.call("POST", "/community/posts", anna, expect=201, json={"content": f"away {n}"})
    first.stop()

    second = LiveServer(create_app(app_config))  # same database, new process state
    try:
        stream = Stream("sse", second, anna["access_token"], query=f"?last_event_id={last}")
        contents = [stream.frame()["data"]["content"] for _ in range(3)]
        assert contents == ["away 0", "away 1", "away 2"]
        assert stream.frame()["data"]["recovered"] is True
        stream.close()
    finally:
        second.stop()


def test_prune_by_age_and_count(live_server) -> None:
    rt = live_server.state
    with live_server.app.app_context():
        ids = [rt.publish_event(Event(type="SystemNotification", channel="system",
                                      data={"title": str(n), "message": "m", "level": "info"})).id
               for n in range(10)]
    assert rt.history.prune(max_age_seconds=0, max_count=4) == 6
    assert rt.history.bounds() == (ids[6], ids[9])
    assert rt.history.prune(max_age_seconds=3600, max_count=0) == 0
    assert rt.history.prune(max_age_seconds=1e-9, max_count=0) == 4


@pytest.mark.realtime_config(REALTIME_RETENTION_COUNT=2, REALTIME_PRUNE_INTERVAL=0.05,
                             REALTIME_TICKET_TTL=-1.0)
def test_prune_job_applies_retention(live_server) -> None:
    from itcook import jobs

    rt = live_server.state
    api = Api(live_server)
    anna = api.register("anna")
    api.call("POST", "/realtime/ticket", anna, expect=201)  # already expired (TTL < 0)
    with live_server.app.app_context():
        for n in range(5):
            rt.publish_event(Event(type="SystemNotification", channel="system",
                                   data={"title": str(n), "message": "m", "level": "info"}))
    assert "realtime-log-prune" in jobs.registry(live_server.app).jobs
    jobs.start(live_server.app)
    try:
        wait_for(lambda: rt.history.bounds()[1] - rt.history.bounds()[0] == 1, what="prune job")
        with rt.tickets.engine.connect() as conn:
            from sqlalchemy import func, select

            assert conn.execute(select(func.count()).select_from(rt.tickets.table)).scalar() == 0
    finally:
        jobs.stop(live_server.app)


def _commit(rt, event_id: int) -> Event:
    """Insert an event with its id into the log: the transaction that took ``event_id`` commits."""
    import datetime as dt

    from sqlalchemy import insert

    event = Event(type="SystemNotification", channel="system",
                  data={"title": str(event_id), "message": "m", "level": "info"}, id=event_id)
    with rt.history.engine.begin() as conn:
        conn.execute(insert(rt.history.table).values(
            id=event_id, type=event.type, channel=event.channel, data=event.data, ts=event.ts,
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    return event


@pytest.mark.realtime_config(REALTIME_GAP_WAIT=5.0)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_resume_across_a_hole_still_committing_gets_both_in_order(live_server, transport,
                                                                    source) -> None:
    """Two transactions took ids k+1 and k+2 and commit in reverse order; a client resumes from k
    in between. It gets k+1, then k+2, and a Recovery that says recovered — never k+2 alone."""
    rt = live_server.state
    anna = Api(live_server).register("anna")
    with live_server.app.app_context():
        first = rt.publish_event(Event(type="SystemNotification", channel="system",
                                       data={"title": "t", "message": "m", "level": "info"}))
    wait_for(lambda: rt.last_dispatched_id == first.id, what="the dispatcher")
    k = first.id
    rt.broker.publish(_commit(rt, k + 2))  # its doorbell rings first
    stream = Stream(transport, live_server, anna["access_token"], f"?last_event_id={k}")
    wait_for(lambda: len(rt.hub.connections) == 1, what="the resuming client")
    rt.broker.publish(_commit(rt, k + 1))
    frames = [stream.frame() for _ in range(3)]
    assert [f.get("id") for f in frames if f["type"] != "Recovery"] == [k + 1, k + 2]
    assert [f["data"]["recovered"] for f in frames if f["type"] == "Recovery"] == [True]
    stream.close()
