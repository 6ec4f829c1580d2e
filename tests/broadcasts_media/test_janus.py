"""The app's Janus control plane against a real Janus (loopback, token authentication on):
rooms created and destroyed with their secret, tokens that Janus itself accepts or refuses, and
each token bound to the room it was granted for (the room's ``allowed`` list, ``require_pvtid``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from itcook import create_app
from itcook.broadcasts.janus import PLUGIN, Janus, JanusError, janus_for, publisher_id
from tests.support.janus import JanusServer
from tests.support.servers import free_port, make_test_config


@pytest.fixture
def janus(janus_server: JanusServer) -> Janus:
    return Janus(janus_server.url, "", janus_server.admin_url, janus_server.admin_secret, timeout=5)


def _janus(url: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    """One Janus API request as a browser makes it (the token in the body, or none)."""
    body = {**body, "transaction": uuid.uuid4().hex, **({"token": token} if token is not None else {})}
    answer = requests.post(url, json=body, timeout=5).json()
    assert isinstance(answer, dict)
    return answer


def _videoroom(server: JanusServer, token: str, *bodies: dict[str, Any]) -> Any:
    """VideoRoom requests, in order, on one handle of a new session of ``token``: the plugin's
    data of the last (of each, as a list, when several are given). A ``join`` is asynchronous:
    its answer is the session's next event."""
    session = _janus(server.url, {"janus": "create"}, token)
    assert session["janus"] == "success", session
    url = f"{server.url}/{session['data']['id']}"
    handle = _janus(url, {"janus": "attach", "plugin": PLUGIN}, token)
    assert handle["janus"] == "success", handle
    answers = []
    for body in bodies:
        answer = _janus(f"{url}/{handle['data']['id']}", {"janus": "message", "body": body}, token)
        if answer["janus"] == "ack":
            event = requests.get(f"{url}?maxev=1&token={token}", timeout=10).json()
            answer = event[0] if isinstance(event, list) else event
        answers.append(answer["plugindata"]["data"])
    _janus(url, {"janus": "destroy"}, token)
    return answers if len(bodies) > 1 else answers[0]


def _tokens(server: JanusServer) -> list[str]:
    answer = requests.post(server.admin_url, json={"janus": "list_tokens", "transaction": "t",
                                                   "admin_secret": server.admin_secret}, timeout=5).json()
    return [entry["token"] for entry in answer["data"]["tokens"]]


def test_a_room_is_created_private_and_destroyed_only_with_its_secret(janus_server, janus) -> None:
    room, secret = janus.create_room(7)
    assert 0 < room < 2**53 and len(secret) >= 24
    viewer = janus.grant(room, secret, 42)
    assert _videoroom(janus_server, viewer, {"request": "exists", "room": room})["exists"] is True
    # Private: not listed to anyone, its secret not shown.
    listed = _videoroom(janus_server, viewer, {"request": "list"})["list"]
    assert room not in [entry["room"] for entry in listed]
    # Nobody but the app (the secret's holder) destroys it.
    refused = _videoroom(janus_server, viewer, {"request": "destroy", "room": room, "secret": "guess"})
    assert refused["error_code"] == 433
    with pytest.raises(JanusError) as wrong:
        janus.destroy_room(room, "not-" + secret)
    assert wrong.value.status == 502 and wrong.value.code == "media_error"
    # Two rooms of two broadcasts are two rooms; each is destroyed with its own secret.
    other, other_secret = janus.create_room(8)
    assert other != room and other_secret != secret
    janus.destroy_room(room, secret)
    assert _videoroom(janus_server, viewer, {"request": "exists", "room": room})["exists"] is False
    assert _videoroom(janus_server, viewer, {"request": "exists", "room": other})["exists"] is True
    janus.destroy_room(room, secret)  # already gone: not an error
    janus.destroy_room(other, other_secret)
    # The app's own control tokens did not outlive their calls: only the viewer's is left.
    assert _tokens(janus_server) == [viewer]


def test_janus_accepts_a_granted_token_refuses_none_a_forged_or_a_revoked_one(janus_server, janus) -> None:
    room, secret = janus.create_room(1)
    alice, bob = janus.grant(room, secret, 1), janus.grant(room, secret, 2)
    assert alice != bob and f"r{room}" in alice
    for token in (None, "", "forged-token", alice + "x"):
        answer = _janus(janus_server.url, {"janus": "create"}, token)
        assert answer["janus"] == "error" and answer["error"]["code"] == 403, (token, answer)
    session = _janus(janus_server.url, {"janus": "create"}, alice)
    assert session["janus"] == "success", session
    url = f"{janus_server.url}/{session['data']['id']}"
    assert _janus(url, {"janus": "attach", "plugin": PLUGIN}, alice)["janus"] == "success"
    # A token allows the VideoRoom plugin alone: Janus refuses attaching it to another one.
    assert _janus(url, {"janus": "attach", "plugin": "janus.plugin.echotest"}, alice)["janus"] == "error"
    # Revoked: the next request of the same session is refused, and no new session opens.
    janus.revoke(alice)
    refused = _janus(url, {"janus": "keepalive"}, alice)
    assert refused["janus"] == "error" and refused["error"]["code"] == 403, refused
    assert _janus(janus_server.url, {"janus": "create"}, alice)["error"]["code"] == 403
    # Another user's token is untouched by the revocation.
    assert _janus(janus_server.url, {"janus": "create"}, bob)["janus"] == "success"
    janus.destroy_room(room, secret)


def test_a_janus_that_does_not_answer_or_refuses_is_a_clear_error(janus_server, tmp_path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    down = Janus(nobody + "/janus", "", nobody + "/admin", "secret", timeout=2)
    with pytest.raises(JanusError) as unreachable:
        down.grant(1, "secret", 1)
    assert unreachable.value.status == 503 and unreachable.value.code == "media_unavailable"
    wrong_secret = Janus(janus_server.url, "", janus_server.admin_url, "not-the-secret", timeout=5)
    with pytest.raises(JanusError) as refused:
        wrong_secret.create_room(1)
    assert refused.value.status == 502 and "add_token" in refused.value.message


def test_the_app_has_a_janus_only_when_configured(janus_server, tmp_path) -> None:
    plain = create_app(make_test_config(tmp_path))
    assert janus_for(plain) is None
    configured = create_app(make_test_config(
        tmp_path, JANUS_URL="https://media.example/janus", JANUS_API_URL=janus_server.url,
        JANUS_ADMIN_URL=janus_server.admin_url, JANUS_ADMIN_SECRET=janus_server.admin_secret))
    janus = janus_for(configured)
    assert janus is not None and janus_for(configured) is janus
    assert janus.public_url == "https://media.example/janus"
    room, secret = janus.create_room(3)  # through JANUS_API_URL, not the public one
    janus.destroy_room(room, secret)
    for app in (plain, configured):
        app.extensions["realtime"].shutdown()



def test_a_token_works_in_its_own_room_only(janus_server, janus) -> None:
    room_a, secret_a = janus.create_room(1)
    room_b, secret_b = janus.create_room(2)
    token_a = janus.grant(room_a, secret_a, 7)
    # In its own room: joins (the room's ACL knows it) and gets the private id a subscription needs.
    joined = _videoroom(janus_server, token_a, {"request": "join", "ptype": "publisher", "room": room_a,
                                                "token": token_a})
    assert joined["videoroom"] == "joined" and joined["private_id"], joined
    # In another room, Janus refuses it: to join, and so to publish or to subscribe (which needs
    # the private id of a participant of that room: tests/browser/test_live.py, with a publisher).
    refused = _videoroom(janus_server, token_a, {"request": "join", "ptype": "publisher", "room": room_b,
                                                 "token": token_a})
    assert refused.get("error_code") == 433, refused
    # A join that does not name the token is refused in its own room too.
    bare = _videoroom(janus_server, token_a, {"request": "join", "ptype": "publisher", "room": room_a})
    assert bare.get("error_code") == 433, bare
    # Revoked with its room: off the room's list (another user's token stays on it), then removed.
    token_b = janus.grant(room_b, secret_b, 8)
    janus.revoke(token_a, room_a, secret_a)
    assert _janus(janus_server.url, {"janus": "create"}, token_a)["error"]["code"] == 403
    listed = _videoroom(janus_server, token_b, {"request": "allowed", "room": room_b, "secret": secret_b,
                                                "action": "add", "allowed": []})
    assert listed["allowed"] == [token_b]
    for room, secret in ((room_a, secret_a), (room_b, secret_b)):
        janus.destroy_room(room, secret)


def test_the_app_sees_whether_the_hosts_participant_publishes(janus_server, janus) -> None:
    room, secret = janus.create_room(1)
    token = janus.grant(room, secret, 7)
    host = publisher_id(secret)
    assert 0 < host < 2**52 and publisher_id(secret) == host and publisher_id(secret + "x") != host
    # Joined with the host's id, not publishing: not yet (the browser test sees the other answer).
    session = _janus(janus_server.url, {"janus": "create"}, token)["data"]["id"]
    url = f"{janus_server.url}/{session}"
    handle = _janus(url, {"janus": "attach", "plugin": PLUGIN}, token)["data"]["id"]
    _janus(f"{url}/{handle}", {"janus": "message", "body": {"request": "join", "ptype": "publisher",
                                                            "room": room, "id": host, "token": token}}, token)
    joined = requests.get(f"{url}?maxev=1&token={token}", timeout=10).json()  # the join's event
    assert (joined[0] if isinstance(joined, list) else joined)["plugindata"]["data"]["id"] == host
    listed = _videoroom(janus_server, token, {"request": "listparticipants", "room": room})
    assert [p["id"] for p in listed["participants"]] == [host]
    assert janus.publishing(room, host) is False
    _janus(url, {"janus": "destroy"}, token)
    janus.destroy_room(room, secret)
