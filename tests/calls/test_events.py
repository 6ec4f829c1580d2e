"""Call events on group:<id> and call:<id>: a call starts, people come and go, it ends; a member
removed from the group is dropped at once; a participant whose connections are gone leaves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from itcook import jobs
from tests.support.calls import call_with, group_with, recv_error, recv_signal, signal
from tests.support.rest import Api
from tests.support.ws import Client, ws_connect


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _event(client: Client, event_type: str, channel: str) -> dict[str, Any]:
    """The data of the next ``event_type`` frame on ``channel`` (others are kept for later)."""
    frame = client.recv_until(event_type, lambda f: f["channel"] == channel, keep=True)
    assert isinstance(frame.get("id"), int), frame  # durable
    return frame["data"]


def test_the_group_hears_a_call_start_and_everyone_hears_who_comes_and_goes(live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    group_id = group_with(api, anna, boris, carol)
    group = f"group:{group_id}"
    listeners = {name: ws_connect(live_server, user["access_token"], query=f"?channels={group}")
                 for name, user in (("anna", anna), ("boris", boris), ("carol", carol))}
    call = api.call("POST", f"/groups/{group_id}/calls", anna, expect=201).json()
    channel = f"call:{call['id']}"
    for client in listeners.values():
        assert _event(client, "CallStarted", group) == {
            "call_id": call["id"], "group_id": group_id, "started_by": anna["user"]["id"],
            "started_by_name": "anna"}
        assert _event(client, "CallParticipantJoined", group) == {
            "call_id": call["id"], "user_id": anna["user"]["id"], "user_name": "anna"}
        client.subscribe(channel)
    api.call("POST", f"/calls/{call['id']}/join", boris, expect=200)
    for client in listeners.values():
        for on in (channel, group):
            assert _event(client, "CallParticipantJoined", on)["user_id"] == boris["user"]["id"]
    api.call("POST", f"/calls/{call['id']}/leave", anna, expect=200)
    api.call("POST", f"/calls/{call['id']}/leave", boris, expect=200)
    carol_hears = listeners["carol"]
    for on in (channel, group):
        assert _event(carol_hears, "CallParticipantLeft", on) == {
            "call_id": call["id"], "user_id": anna["user"]["id"], "user_name": "anna", "reason": "left"}
        assert _event(carol_hears, "CallParticipantLeft", on)["user_id"] == boris["user"]["id"]
        assert _event(carol_hears, "CallEnded", on) == {"call_id": call["id"]}
    for client in listeners.values():
        client.close()


def test_only_members_of_the_calls_group_may_listen_to_it(live_server, api) -> None:
    anna, dave = api.register("anna"), api.register("dave")
    call_id = call_with(api, anna)
    outsider = ws_connect(live_server, dave["access_token"])
    for name in (f"call:{call_id}", "call:999", "call:x", "call:0"):
        outsider.send({"type": "Subscribe", "channels": [name]})
        assert recv_error(outsider)["code"] in ("forbidden_channel", "unknown_channel"), name
    member = ws_connect(live_server, anna["access_token"])
    assert member.subscribe(f"call:{call_id}")["data"]["channels"] == [f"call:{call_id}"]
    outsider.close()
    member.close()


def test_a_member_removed_from_the_group_is_dropped_from_the_call_at_once(live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    call_id = call_with(api, anna, boris, carol)
    group_id = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()["group_id"]
    channel = f"call:{call_id}"
    a, b = (ws_connect(live_server, u["access_token"], query=f"?channels={channel}") for u in (anna, boris))
    api.call("DELETE", f"/groups/{group_id}/members/{boris['user']['id']}", anna, expect=200)
    assert _event(a, "CallParticipantLeft", channel) == {
        "call_id": call_id, "user_id": boris["user"]["id"], "user_name": "boris", "reason": "removed"}
    frame = b.recv_until("Unsubscribed", lambda f: f["data"]["channels"] == [channel])
    assert frame["data"]["reason"] == "access_revoked"
    shown = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()
    assert [p["user_id"] for p in shown["participants"]] == [anna["user"]["id"], carol["user"]["id"]]
    signal(b, call_id, anna["user"]["id"])
    assert recv_error(b)["code"] == "not_in_call"
    api.call("GET", f"/calls/{call_id}", boris, expect=403)
    api.call("POST", f"/calls/{call_id}/join", boris, expect=403)
    # Leaving the group oneself drops one from the call too; carol was the last but anna.
    api.call("POST", f"/groups/{group_id}/leave", carol, expect=200)
    assert _event(a, "CallParticipantLeft", channel)["user_id"] == carol["user"]["id"]
    signal(a, call_id, carol["user"]["id"])
    assert recv_error(a)["code"] == "not_in_call"
    a.close()
    b.close()


@pytest.fixture
def running_jobs(live_server) -> Iterator[None]:
    """The app's periodic jobs run, as in a serving process."""
    jobs.start(live_server.app)
    yield
    jobs.stop(live_server.app)


@pytest.mark.realtime_config(CALL_AWAY_SECONDS=0.5)
def test_a_participant_whose_connections_are_gone_leaves_the_call(live_server, api, running_jobs) -> None:
    anna, boris, carol, dave = (api.register(n) for n in ("anna", "boris", "carol", "dave"))
    call_id = call_with(api, anna, boris)
    group_id = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()["group_id"]
    for late in (carol, dave):
        api.call("POST", f"/groups/{group_id}/join", late, expect=201)
    channel = f"call:{call_id}"
    a = ws_connect(live_server, anna["access_token"], query=f"?channels={channel}")
    b = ws_connect(live_server, boris["access_token"], query=f"?channels={channel}")
    b.close()
    left = _event(a, "CallParticipantLeft", channel)
    assert left == {"call_id": call_id, "user_id": boris["user"]["id"], "user_name": "boris",
                    "reason": "away"}
    # carol joins and never connects: she is taken out a whole away time after joining, so the
    # check has run many rounds meanwhile, and anna, connected, must still be in.
    api.call("POST", f"/calls/{call_id}/join", carol, expect=200)
    assert _event(a, "CallParticipantLeft", channel)["user_id"] == carol["user"]["id"]
    shown = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()
    assert [p["user_id"] for p in shown["participants"]] == [anna["user"]["id"]]
    watcher = ws_connect(live_server, dave["access_token"], query=f"?channels={channel}")
    a.close()
    assert _event(watcher, "CallParticipantLeft", channel)["user_id"] == anna["user"]["id"]
    assert _event(watcher, "CallEnded", channel) == {"call_id": call_id}
    watcher.close()


def test_signals_need_both_in_the_call_even_between_group_members(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    call_id = call_with(api, anna, boris)
    a, b = ws_connect(live_server, anna["access_token"]), ws_connect(live_server, boris["access_token"])
    signal(a, call_id, boris["user"]["id"], sdp="v=0")
    assert recv_signal(b)["data"]["from"] == anna["user"]["id"]
    api.call("POST", f"/calls/{call_id}/leave", anna, expect=200)
    api.call("POST", f"/calls/{call_id}/leave", boris, expect=200)  # ended
    api.call("POST", f"/calls/{call_id}/join", anna, expect=409)
    signal(a, call_id, boris["user"]["id"])
    assert recv_error(a)["code"] == "not_in_call"
    a.close()
    b.close()


def test_deleting_the_group_closes_its_call_for_everyone(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    call_id = call_with(api, anna, boris)
    group_id = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()["group_id"]
    channel = f"call:{call_id}"
    b = ws_connect(live_server, boris["access_token"], query=f"?channels=personal,{channel}")
    api.call("DELETE", f"/groups/{group_id}", anna, expect=204)
    frame = b.recv_until("Unsubscribed", lambda f: f["data"]["channels"] == [channel])
    assert frame["data"]["reason"] == "access_revoked"
    for method, path in (("GET", f"/calls/{call_id}"), ("POST", f"/calls/{call_id}/join"),
                         ("POST", f"/calls/{call_id}/leave")):
        assert api.call(method, path, anna, expect=404).json()["error"]["code"] == "not_found"
    b.send({"type": "Subscribe", "channels": [channel]})
    assert recv_error(b)["code"] == "forbidden_channel"
    signal(b, call_id, anna["user"]["id"])
    assert recv_error(b)["code"] == "not_in_call"
    with live_server.app.app_context():
        from sqlalchemy import func, select

        from itcook.extensions import db

        events = live_server.state.tables["events"]
        assert db.session.scalar(select(func.count()).select_from(events)
                                 .where(events.c.channel == channel)) == 0
    b.close()
