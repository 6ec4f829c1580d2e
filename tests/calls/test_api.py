"""Calls over REST: members only, one live call per group, joining up to the cap, leaving ends it."""

from __future__ import annotations

from typing import Any

import pytest

G = "/api/v1/groups"
C = "/api/v1/calls"


def _group(client, owner: dict[str, Any], *members: dict[str, Any]) -> int:
    group = client.post(G, json={"name": "Family", "open": True}, headers=owner["headers"])
    assert group.status_code == 201
    for member in members:
        assert client.post(f"{G}/{group.get_json()['id']}/join", headers=member["headers"]).status_code == 201
    return group.get_json()["id"]


def _post(client, path: str, user: dict[str, Any], expect: int) -> dict[str, Any]:
    response = client.post(path, headers=user["headers"])
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _ids(call: dict[str, Any]) -> list[int]:
    return [p["user_id"] for p in call["participants"]]


def test_a_member_starts_a_call_others_join_and_the_last_to_leave_ends_it(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    group_id = _group(client, anna, boris)
    call = _post(client, f"{G}/{group_id}/calls", anna, 201)
    assert call["group_id"] == group_id and call["started_by"] == anna["user"]["id"]
    assert call["ended_at"] is None and _ids(call) == [anna["user"]["id"]]
    joined = _post(client, f"{C}/{call['id']}/join", boris, 200)
    assert set(joined) == {"call", "participants", "ice_servers", "ttl"}
    assert joined["participants"] == joined["call"]["participants"]
    assert _ids(joined["call"]) == [anna["user"]["id"], boris["user"]["id"]]
    assert joined["participants"][1]["user_name"] == "boris"
    again = _post(client, f"{C}/{call['id']}/join", boris, 200)  # idempotent
    assert _ids(again["call"]) == _ids(joined["call"])
    shown = client.get(f"{C}/{call['id']}", headers=anna["headers"]).get_json()
    assert shown == joined["call"]
    left = _post(client, f"{C}/{call['id']}/leave", anna, 200)
    assert _ids(left) == [boris["user"]["id"]] and left["ended_at"] is None
    assert _ids(_post(client, f"{C}/{call['id']}/leave", anna, 200)) == [boris["user"]["id"]]
    ended = _post(client, f"{C}/{call['id']}/leave", boris, 200)
    assert ended["participants"] == [] and ended["ended_at"] is not None
    refused = _post(client, f"{C}/{call['id']}/join", anna, 409)
    assert refused["error"]["code"] == "call_ended"
    second = _post(client, f"{G}/{group_id}/calls", boris, 201)  # the group may call again
    listed = client.get(f"{G}/{group_id}/calls", headers=anna["headers"]).get_json()
    assert [c["id"] for c in listed["items"]] == [second["id"], call["id"]]


def test_one_live_call_per_group_and_the_409_names_it(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    group_id = _group(client, anna, boris)
    call = _post(client, f"{G}/{group_id}/calls", anna, 201)
    refused = _post(client, f"{G}/{group_id}/calls", boris, 409)
    assert refused["error"]["code"] == "call_in_progress"
    assert refused["error"]["call"]["id"] == call["id"] and str(call["id"]) in refused["error"]["message"]
    other = _group(client, boris)
    assert _post(client, f"{G}/{other}/calls", boris, 201)["group_id"] == other


@pytest.mark.realtime_config(CALL_MAX_PARTICIPANTS=3)
def test_a_call_holds_at_most_the_configured_number_of_people(client, auth) -> None:
    users = [auth.register(f"cook{i}") for i in range(4)]
    group_id = _group(client, users[0], *users[1:])
    call = _post(client, f"{G}/{group_id}/calls", users[0], 201)
    for user in users[1:3]:
        _post(client, f"{C}/{call['id']}/join", user, 200)
    full = _post(client, f"{C}/{call['id']}/join", users[3], 409)
    assert full["error"]["code"] == "call_full"
    _post(client, f"{C}/{call['id']}/leave", users[1], 200)
    assert len(_post(client, f"{C}/{call['id']}/join", users[3], 200)["participants"]) == 3


def test_only_members_of_the_group_see_start_join_or_leave_its_calls(client, auth) -> None:
    anna, carol = auth.register("anna"), auth.register("carol")
    group_id = _group(client, anna)
    call = _post(client, f"{G}/{group_id}/calls", anna, 201)
    for method, path in (("post", f"{G}/{group_id}/calls"), ("get", f"{G}/{group_id}/calls"),
                         ("post", f"{C}/{call['id']}/join"), ("post", f"{C}/{call['id']}/leave"),
                         ("get", f"{C}/{call['id']}")):
        response = getattr(client, method)(path, headers=carol["headers"])
        assert response.status_code == 403, (path, response.get_json())
        assert response.get_json()["error"]["code"] == "not_a_member"
    anonymous = client.post(f"{C}/{call['id']}/join")
    assert anonymous.status_code == 401 and "error" in anonymous.get_json()


def test_bad_ids_and_methods_get_json_errors(client, auth) -> None:
    anna = auth.register("anna")
    for method, path, status in (("post", f"{G}/999/calls", 404), ("get", f"{G}/999/calls", 404),
                                 ("post", f"{C}/999/join", 404), ("post", f"{C}/999/leave", 404),
                                 ("get", f"{C}/999", 404), ("post", f"{C}/0/join", 404),
                                 ("post", f"{C}/abc/join", 404), ("post", f"{C}/-1/join", 404),
                                 ("post", f"{C}/{2**40}/join", 404), ("put", f"{C}/1/join", 405),
                                 ("get", f"{C}/1/join", 405), ("post", f"{C}/ice-servers", 405)):
        response = getattr(client, method)(path, headers=anna["headers"])
        assert response.status_code == status, (method, path, response.status_code)
        assert "code" in response.get_json()["error"]


def test_ice_servers_without_turn_have_no_credentials(client, auth) -> None:
    anna = auth.register("anna")
    answer = client.get(f"{C}/ice-servers", headers=anna["headers"]).get_json()
    assert answer == {"ice_servers": [], "ttl": 3600}
    assert client.get(f"{C}/ice-servers").status_code == 401


@pytest.mark.realtime_config(STUN_URLS=["stun:stun.example.org:3478"],
                             TURN_URLS=["turn:turn.example.org:3478?transport=udp"],
                             TURN_SECRET="north", TURN_TTL=600)
def test_ice_servers_carry_turn_rest_credentials(client, auth) -> None:
    import base64
    import hashlib
    import hmac
    import time

    anna = auth.register("anna")
    before = int(time.time())
    answer = client.get(f"{C}/ice-servers", headers=anna["headers"]).get_json()
    stun, turn = answer["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]} and answer["ttl"] == 600
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    expiry, user = turn["username"].split(":")
    assert user == str(anna["user"]["id"]) and before + 600 <= int(expiry) <= int(time.time()) + 600
    digest = hmac.new(b"north", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


def test_turn_urls_without_a_secret_refuse_to_start(tmp_path) -> None:
    from itcook import create_app
    from tests.support.servers import make_test_config

    with pytest.raises(RuntimeError, match="ITCOOK_TURN_SECRET"):
        create_app(make_test_config(tmp_path, TURN_URLS=["turn:x:3478"]))


@pytest.mark.realtime_config(CALL_MAX_PARTICIPANTS=4)
def test_simultaneous_starts_make_one_call_and_simultaneous_joins_stop_at_the_cap(live_server) -> None:
    from tests.support.calls import group_with
    from tests.support.rest import Api
    from tests.support.waiting import concurrently

    api = Api(live_server)
    users = [api.register(f"cook{i}") for i in range(8)]
    group_id = group_with(api, users[0], *users[1:])
    starts = concurrently(4, lambda i: api.call("POST", f"/groups/{group_id}/calls", users[i]))
    assert sorted(r.status_code for r in starts) == [201, 409, 409, 409]
    call_id = next(r.json()["id"] for r in starts if r.status_code == 201)
    assert {r.json()["error"]["call"]["id"] for r in starts if r.status_code == 409} == {call_id}
    joins = concurrently(7, lambda i: api.call("POST", f"/calls/{call_id}/join", users[i + 1]))
    assert sorted(r.status_code for r in joins) == [200] * 3 + [409] * 4
    assert {r.json()["error"]["code"] for r in joins if r.status_code == 409} == {"call_full"}
    shown = api.call("GET", f"/calls/{call_id}", users[0], expect=200).json()
    assert len(shown["participants"]) == 4
