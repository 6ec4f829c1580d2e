"""Group channels and the inbox, live: only members hear ``group:<id>``, a member who loses access
stops hearing it at once (and never gets it replayed), and reading on one device reaches the others."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from itcook.realtime.connection import SSE, Connection
from itcook.realtime.events import Event
from itcook.realtime.recent import RecentEvents
from tests.support.rest import Api
from tests.support.sse import read_sse_until, sse_fields
from tests.support.streams import TRANSPORTS, Stream
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _club(api: Api, owner: dict, *members: dict) -> int:
    group = api.call("POST", "/groups", owner, expect=201, json={"name": "Soup club", "open": True}).json()
    for member in members:
        api.call("POST", f"/groups/{group['id']}/join", member, expect=201)
    return group["id"]


def _post(api: Api, user: dict, group_id: int, content: str) -> dict:
    return api.call("POST", f"/groups/{group_id}/posts", user, expect=201, json={"content": content}).json()


def _mark(live_server, user: dict, title: str) -> Event:
    """A personal event for ``user``: a marker that everything published before it was handled."""
    with live_server.app.app_context():
        return live_server.state.publish_event(Event(
            type="SystemNotification", channel=f"user:{user['user']['id']}",
            data={"title": title, "message": ".", "level": "info"}))


def _until(stream: Stream, title: str, limit: int = 50) -> list[dict[str, Any]]:
    """Every frame before the marker ``title`` (not included)."""
    frames = []
    for _ in range(limit):
        frame = stream.frame()
        if frame["type"] == "SystemNotification" and frame["data"]["title"] == title:
            return frames
        frames.append(frame)
    raise AssertionError(f"no marker {title!r}")


def test_members_hear_group_posts_and_nobody_else_may_listen(live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    gid = _club(api, anna, boris)
    member = ws_connect(live_server, anna["access_token"])
    assert member.subscribe(f"group:{gid}")["data"] == {"channels": [f"group:{gid}"]}
    outsider = ws_connect(live_server, carol["access_token"])
    outsider.send({"type": "Subscribe", "channels": [f"group:{gid}"]})
    error = outsider.recv()
    assert error["type"] == "Error" and error["data"]["code"] == "forbidden_channel"
    post = _post(api, boris, gid, "Borscht on Friday")
    frame = member.recv_type("NewGroupPost")
    assert frame["channel"] == f"group:{gid}" and isinstance(frame["id"], int)
    assert frame["data"] == {"group_id": gid, "post_id": post["id"], "author_id": boris["user"]["id"],
                             "author_name": "boris", "content": "Borscht on Friday"}
    assert f"group:{gid}" not in next(c for c in live_server.state.hub.connections
                                      if c.user_id == carol["user"]["id"]).channels
    member.close()
    outsider.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_non_member_connecting_to_a_group_channel_does_not_get_it(live_server, api, transport) -> None:
    """The stream opens without the group and says so (a client stops asking for it), instead
    of a refusal a browser cannot see and would retry forever."""
    anna, carol = api.register("anna"), api.register("carol")
    gid = _club(api, anna)
    stream = Stream(transport, live_server, carol["access_token"], query=f"?channels=personal,group:{gid}")
    first = stream.frame()
    assert first["type"] == "Unsubscribed"
    assert first["data"] == {"channels": [f"group:{gid}"], "reason": "access_revoked"}
    wait_for(lambda: live_server.state.hub.connections, what="stream")
    assert not live_server.state.hub.channels.get(f"group:{gid}")
    _post(api, anna, gid, "members only")
    _mark(live_server, carol, "marker")
    assert _until(stream, "marker") == []  # the group post never reached carol
    stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("how", ["removed", "left", "deleted"])
def test_losing_membership_stops_the_channel_at_once(live_server, api, transport, how) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    gid = _club(api, anna, boris)
    stream = Stream(transport, live_server, boris["access_token"], query=f"?channels=personal,group:{gid}")
    wait_for(lambda: live_server.state.hub.channels.get(f"group:{gid}"), what="subscription")
    _post(api, anna, gid, "before")
    assert stream.frame()["data"]["content"] == "before"
    if how == "removed":
        api.call("DELETE", f"/groups/{gid}/members/{boris['user']['id']}", anna, expect=200)
    elif how == "left":
        api.call("POST", f"/groups/{gid}/leave", boris, expect=200)
    else:
        api.call("DELETE", f"/groups/{gid}", anna, expect=204)
    unsubscribed = stream.frame()
    assert unsubscribed["type"] == "Unsubscribed" and "id" not in unsubscribed
    assert unsubscribed["data"] == {"channels": [f"group:{gid}"], "reason": "access_revoked"}
    if how != "deleted":
        _post(api, anna, gid, "after")  # logged for the group, but boris no longer listens
    _mark(live_server, boris, "marker")
    assert _until(stream, "marker") == []
    assert not live_server.state.hub.channels.get(f"group:{gid}")
    stream.close()


def test_a_resume_never_replays_a_group_the_user_left(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    gid = _club(api, anna, boris)
    client = ws_connect(live_server, boris["access_token"], query=f"?channels=personal,group:{gid}")
    wait_for(lambda: live_server.state.hub.channels.get(f"group:{gid}"), what="subscription")
    last = _mark(live_server, boris, "seen").id
    assert client.recv()["data"]["title"] == "seen"
    client.close()
    _post(api, anna, gid, "while away, still a member")
    api.call("DELETE", f"/groups/{gid}/members/{boris['user']['id']}", anna, expect=200)
    _post(api, anna, gid, "after the removal")
    # Reconnecting with the old channel list: the group is dropped (and said so), nothing of it
    # is replayed, and the rest resumes.
    client = ws_connect(live_server, boris["access_token"],
                        query=f"?channels=personal,group:{gid}&last_event_id={last}")
    dropped = client.recv()
    assert dropped["type"] == "Unsubscribed" and dropped["data"]["reason"] == "access_revoked"
    recovery = client.recv()
    assert recovery["type"] == "Recovery" and recovery["data"]["replayed"] == 0
    client.close()


def test_a_revocation_lost_in_a_broker_outage_is_applied_on_resync(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    gid = _club(api, anna, boris)
    state = live_server.state
    client = ws_connect(live_server, boris["access_token"], query=f"?channels=personal,group:{gid}")
    wait_for(lambda: state.hub.channels.get(f"group:{gid}"), what="subscription")
    # An outage: events are logged, but neither they nor the revocation reach the dispatcher.
    state.broker.publish = lambda event: False
    try:
        api.call("DELETE", f"/groups/{gid}/members/{boris['user']['id']}", anna, expect=200)
        _post(api, anna, gid, "posted during the outage, after the removal")
        _mark(live_server, boris, "missed")
    finally:
        del state.broker.publish
    assert f"group:{gid}" in next(iter(state.hub.by_user[boris["user"]["id"]])).channels
    state.resync()  # what the Redis listener does once the broker is back
    frames = [client.recv() for _ in range(3)]
    assert [f["type"] for f in frames] == ["Unsubscribed", "SystemNotification", "Recovery"]
    assert frames[0]["data"] == {"channels": [f"group:{gid}"], "reason": "access_revoked"}
    assert frames[2]["data"]["replayed"] == 1
    client.close()


@pytest.mark.realtime_config(REALTIME_REPLAY_BATCH=1)
def test_a_revocation_during_a_replay_stops_that_channel_mid_way(live_server) -> None:
    """Real hub, log and connection (SSE bytes on a socket pair); the revocation lands between batches."""
    state = live_server.state
    with live_server.app.app_context():
        events = [state.publish_event(Event(type="NewGroupPost", channel="group:5",
                                            data={"n": n})) for n in range(3)]
        state.publish_event(Event(type="GoalAchieved", channel="user:1", data={"n": 3}))
    mine, theirs = socket.socketpair()
    conn = Connection(mine, 1, "anna", SSE, max_bytes=1 << 20, max_frames=1000)
    state.hub.add(conn)
    # The log path: the window of recent events (which would answer this resume when the
    # database driver let the dispatcher run meanwhile, as PostgreSQL's does) is emptied.
    state.hub.recent = RecentEvents(0)
    real_replay = state.history.replay
    batches = []

    def replay(channels: list[str], after_id: int, limit: int, upto: int | None = None) -> list[Event]:
        batches.append(list(channels))
        if len(batches) == 2:
            state.hub.revoke("group:5", 1)  # as the dispatcher would, between two reads
        return real_replay(channels, after_id, limit, upto)

    state.history.replay = replay
    try:
        state.hub.begin_replay(conn, ["user:1", "group:5"])
        conn.last_event_id = events[0].id - 1
        from itcook.realtime import resume

        resume.catch_up(state, conn)
    finally:
        del state.history.replay
    sent = sse_fields(read_sse_until(theirs, b"event: Recovery"), "event")
    assert sent == ["NewGroupPost", "Unsubscribed", "GoalAchieved", "Recovery"]
    assert batches[0] == ["group:5", "user:1"] and batches[-1] == ["user:1"]
    state.hub.remove(conn, "normal")
    mine.close()
    theirs.close()


def test_an_authorization_overtaken_by_a_revocation_is_redone(live_server) -> None:
    state = live_server.state
    answers = iter([True, False])

    def club(user_id: int, club_id: int) -> bool:
        answer = next(answers)
        if answer:
            state.hub.revoke("club:9", user_id)  # processed while this check was "in the database"
        return answer

    state.register_channel("club", club, "forbidden_channel")
    assert state.allowed_channels(1, ["user:1", "club:9"]) == ["user:1"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reading_on_one_device_reaches_the_others(live_server, api, transport) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    phone = Stream(transport, live_server, anna["access_token"])
    laptop = ws_connect(live_server, anna["access_token"])
    wait_for(lambda: len(live_server.state.hub.by_user.get(anna["user"]["id"], ())) == 2, what="streams")
    api.call("POST", f"/community/users/{anna['user']['id']}/follow", boris, expect=201)
    followed = phone.frame()
    assert followed["type"] == "NewFollower" and laptop.recv_type("NewFollower")["id"] == followed["id"]
    inbox = api.call("GET", "/notifications", anna, expect=200).json()
    assert [n["id"] for n in inbox["items"]] == [followed["id"]] and inbox["unread_count"] == 1
    api.call("POST", "/notifications/read", anna, expect=200, json={"ids": [followed["id"]]})
    for frame in (phone.frame(), laptop.recv_type("NotificationsRead")):
        assert frame["type"] == "NotificationsRead" and frame["channel"] == "personal"
        assert frame["id"] > followed["id"]  # durable: replayed to a device that was away
        assert frame["data"] == {"ids": [followed["id"]], "up_to_id": None, "unread_count": 0}
    phone.close()
    laptop.close()
    away = ws_connect(live_server, anna["access_token"], query=f"?last_event_id={followed['id'] - 1}")
    assert [away.recv()["type"] for _ in range(3)] == ["NewFollower", "NotificationsRead", "Recovery"]
    away.close()


def test_an_invitation_is_a_personal_event_in_the_inbox(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    gid = api.call("POST", "/groups", anna, expect=201, json={"name": "Pie club"}).json()["id"]
    client = ws_connect(live_server, boris["access_token"])
    wait_for(lambda: live_server.state.hub.by_user.get(boris["user"]["id"]), what="stream")
    api.call("POST", f"/groups/{gid}/invites", anna, expect=201, json={"user_id": boris["user"]["id"]})
    frame = client.recv_type("GroupInvitation")
    assert frame["channel"] == "personal" and frame["data"] == {
        "group_id": gid, "group_name": "Pie club", "invited_by_id": anna["user"]["id"],
        "invited_by_name": "anna"}
    [note] = api.call("GET", "/notifications", boris, expect=200).json()["items"]
    assert note["id"] == frame["id"] and note["body"] == "anna invites you to Pie club"
    api.call("POST", f"/groups/{gid}/join", boris, expect=201)
    assert client.subscribe(f"group:{gid}")["data"]["channels"] == [f"group:{gid}"]
    client.close()
