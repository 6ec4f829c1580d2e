"""Groups (cooking clubs): creating, listing, joining, inviting, leaving, removing, posting."""

from __future__ import annotations

import pytest
import requests

from tests.support.rest import Api
from tests.support.waiting import concurrently

G = "/api/v1/groups"


def _group(client, owner, name: str = "Soup club", open_: bool = False) -> dict:
    response = client.post(G, json={"name": name, "description": "soups", "open": open_},
                           headers=owner["headers"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _call(client, method: str, path: str, user, expect: int, **kwargs) -> dict:
    response = client.open(f"{G}{path}", method=method, headers=user["headers"], **kwargs)
    assert response.status_code == expect, response.get_json()
    return response.get_json() if response.data else {}


def test_create_get_and_list_groups(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    soup = _group(client, anna)
    assert soup["owner_id"] == anna["user"]["id"] and soup["owner_name"] == "anna"
    assert (soup["open"], soup["members_count"], soup["my_role"], soup["invited"]) == \
        (False, 1, "owner", False)
    bread = _group(client, boris, "Bread", open_=True)
    everything = _call(client, "GET", "", anna, 200)
    assert [g["id"] for g in everything["items"]] == [bread["id"], soup["id"]] and everything["total"] == 2
    mine = _call(client, "GET", "?mine=true", anna, 200)
    assert [g["id"] for g in mine["items"]] == [soup["id"]]
    seen_by_boris = _call(client, "GET", f"/{soup['id']}", boris, 200)
    assert seen_by_boris["my_role"] is None and seen_by_boris["members_count"] == 1
    _call(client, "GET", "/999", anna, 404)


def test_open_group_join_and_leave(client, auth, signals) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    bread = _group(client, anna, open_=True)
    joined = _call(client, "POST", f"/{bread['id']}/join", boris, 201)
    assert joined == {"group_id": bread["id"], "user_id": boris["user"]["id"], "member": True,
                      "role": "member"}
    assert _call(client, "POST", f"/{bread['id']}/join", boris, 200)["member"] is True
    members = _call(client, "GET", f"/{bread['id']}/members", boris, 200)
    assert [(m["username"], m["role"]) for m in members["items"]] == [("anna", "owner"), ("boris", "member")]
    left = _call(client, "POST", f"/{bread['id']}/leave", boris, 200)
    assert left["member"] is False
    assert signals.named("group-member-removed") == [
        {"group_id": bread["id"], "user_id": boris["user"]["id"], "reason": "left"}]
    _call(client, "POST", f"/{bread['id']}/leave", boris, 200)  # idempotent, announced once
    assert len(signals.named("group-member-removed")) == 1
    error = _call(client, "POST", f"/{bread['id']}/leave", anna, 400)["error"]
    assert error["code"] == "owner_cannot_leave"


def test_closed_group_needs_an_invitation(client, auth, signals) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    soup = _group(client, anna)
    assert _call(client, "POST", f"/{soup['id']}/join", boris, 403)["error"]["code"] == "invite_required"
    invite = _call(client, "POST", f"/{soup['id']}/invites", anna, 201, json={"user_id": boris["user"]["id"]})
    assert invite["user_id"] == boris["user"]["id"] and invite["invited_by"] == anna["user"]["id"]
    _call(client, "POST", f"/{soup['id']}/invites", anna, 200, json={"user_id": boris["user"]["id"]})
    assert signals.named("group-invitation-sent") == [{
        "group_id": soup["id"], "group_name": "Soup club", "user_id": boris["user"]["id"],
        "invited_by_id": anna["user"]["id"], "invited_by_name": "anna"}]
    assert _call(client, "GET", f"/{soup['id']}", boris, 200)["invited"] is True
    pending = _call(client, "GET", f"/{soup['id']}/invites", anna, 200)["items"]
    assert [p["user_id"] for p in pending] == [boris["user"]["id"]]
    # Only the owner invites or sees invitations.
    assert _call(client, "POST", f"/{soup['id']}/invites", carol, 403,
                 json={"user_id": carol["user"]["id"]})["error"]["code"] == "not_group_owner"
    _call(client, "GET", f"/{soup['id']}/invites", boris, 403)
    # Accepting is joining; the invitation is used up.
    _call(client, "POST", f"/{soup['id']}/join", boris, 201)
    assert _call(client, "GET", f"/{soup['id']}/invites", anna, 200)["items"] == []
    assert _call(client, "POST", f"/{soup['id']}/invites", anna, 409,
                 json={"user_id": boris["user"]["id"]})["error"]["code"] == "already_member"


def test_invitations_are_declined_or_revoked(client, auth) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    soup = _group(client, anna)
    for user in (boris, carol):
        _call(client, "POST", f"/{soup['id']}/invites", anna, 201, json={"user_id": user["user"]["id"]})
    _call(client, "DELETE", f"/{soup['id']}/invites/{boris['user']['id']}", boris, 204)  # declines
    _call(client, "DELETE", f"/{soup['id']}/invites/{carol['user']['id']}", boris, 403)  # not his
    _call(client, "DELETE", f"/{soup['id']}/invites/{carol['user']['id']}", anna, 204)  # revoked
    _call(client, "POST", f"/{soup['id']}/join", carol, 403)
    assert _call(client, "GET", f"/{soup['id']}/invites", anna, 200)["items"] == []


def test_inviting_unknown_or_disabled_users(app, client, auth) -> None:
    root = auth.admin(app)
    anna, boris = auth.register("anna"), auth.register("boris")
    soup = _group(client, anna)
    client.post(f"/api/v1/admin/users/{boris['user']['id']}/disable", headers=root["headers"])
    for user_id in (boris["user"]["id"], 999):
        _call(client, "POST", f"/{soup['id']}/invites", anna, 404, json={"user_id": user_id})


def test_owner_removes_members_others_cannot(client, auth, signals) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    bread = _group(client, anna, open_=True)
    for user in (boris, carol):
        _call(client, "POST", f"/{bread['id']}/join", user, 201)
    _call(client, "DELETE", f"/{bread['id']}/members/{carol['user']['id']}", boris, 403)
    _call(client, "DELETE", f"/{bread['id']}/members/{anna['user']['id']}", anna, 400)
    removed = _call(client, "DELETE", f"/{bread['id']}/members/{carol['user']['id']}", anna, 200)
    assert removed["member"] is False
    assert signals.named("group-member-removed") == [
        {"group_id": bread["id"], "user_id": carol["user"]["id"], "reason": "removed"}]
    assert _call(client, "GET", f"/{bread['id']}", anna, 200)["members_count"] == 2


def test_posts_are_for_members(client, auth, signals) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    soup = _group(client, anna)
    _call(client, "POST", f"/{soup['id']}/invites", anna, 201, json={"user_id": boris["user"]["id"]})
    _call(client, "POST", f"/{soup['id']}/join", boris, 201)
    first = _call(client, "POST", f"/{soup['id']}/posts", anna, 201, json={"content": " Borscht "})
    second = _call(client, "POST", f"/{soup['id']}/posts", boris, 201, json={"content": "Shchi"})
    assert (first["content"], first["author_name"], first["group_id"]) == ("Borscht", "anna", soup["id"])
    assert [p["id"] for p in _call(client, "GET", f"/{soup['id']}/posts", boris, 200)["items"]] == \
        [second["id"], first["id"]]
    assert signals.named("group-post-created")[1] == {
        "group_id": soup["id"], "post_id": second["id"], "author_id": boris["user"]["id"],
        "author_name": "boris", "content": "Shchi", "created_at": second["created_at"]}
    for method, path, body in (("POST", "/posts", {"content": "hi"}), ("GET", "/posts", None),
                               ("GET", "/members", None)):
        error = _call(client, method, f"/{soup['id']}{path}", carol, 403, json=body)["error"]
        assert error["code"] == "not_a_member"
    assert len(signals.named("group-post-created")) == 2


def test_deleting_a_group_is_for_its_owner_and_takes_everything(client, auth, signals) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    bread = _group(client, anna, open_=True)
    _call(client, "POST", f"/{bread['id']}/join", boris, 201)
    _call(client, "POST", f"/{bread['id']}/posts", boris, 201, json={"content": "Rye"})
    _call(client, "DELETE", f"/{bread['id']}", boris, 403)
    _call(client, "DELETE", f"/{bread['id']}", anna, 204)
    _call(client, "GET", f"/{bread['id']}", anna, 404)
    assert signals.named("group-deleted") == [{"group_id": bread["id"]}]
    assert _call(client, "GET", "?mine=true", boris, 200)["items"] == []
    # Ids are never reused (a new group must not inherit the old one's channel and its log).
    assert _group(client, anna, "Again")["id"] > bread["id"]


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"),
    ({"name": ""}, "invalid_field"),
    ({"name": "x" * 101}, "invalid_field"),
    ({"name": "ok", "description": "x" * 1001}, "invalid_field"),
    ({"name": "ok", "open": "yes"}, "invalid_field"),
    ({"name": 5}, "invalid_field"),
])
def test_bad_group_bodies(client, auth, signals, body, code) -> None:
    anna = auth.register("anna")
    error = _call(client, "POST", "", anna, 400, json=body)["error"]
    assert error["code"] == code
    assert _call(client, "GET", "", anna, 200)["total"] == 0


@pytest.mark.parametrize("body, code", [({}, "missing_field"), ({"user_id": "2"}, "invalid_field"),
                                        ({"user_id": 0}, "invalid_field"),
                                        ({"user_id": True}, "invalid_field")])
def test_bad_invitation_bodies(client, auth, body, code) -> None:
    anna = auth.register("anna")
    soup = _group(client, anna)
    assert _call(client, "POST", f"/{soup['id']}/invites", anna, 400, json=body)["error"]["code"] == code


def test_bad_post_bodies_and_queries(client, auth) -> None:
    anna = auth.register("anna")
    soup = _group(client, anna)
    assert _call(client, "POST", f"/{soup['id']}/posts", anna, 400, json={"content": "  "})["error"]["code"] \
        == "invalid_field"
    assert _call(client, "POST", f"/{soup['id']}/posts", anna, 400,
                 json={"content": "x" * 5001})["error"]["code"] == "invalid_field"
    assert _call(client, "GET", "?mine=perhaps", anna, 400)["error"]["code"] == "invalid_parameter"
    assert client.get(G).status_code == 401


def test_invitations_and_joins_at_once_leave_no_invitation_to_a_member(app, live_server) -> None:
    api = Api(live_server)
    owner = api.register("owner")
    users = [api.register(f"cook{i}") for i in range(15)]
    group = api.call("POST", "/groups", owner, expect=201,
                     json={"name": "Open kitchen", "description": "", "open": True}).json()

    def act(i: int) -> int:
        user = users[i // 2]
        if i % 2:
            return api.call("POST", f"/groups/{group['id']}/join", user).status_code
        return requests.post(f"{api.base}/groups/{group['id']}/invites", headers=owner["headers"],
                             json={"user_id": user["user"]["id"]}, timeout=30).status_code

    answers = concurrently(2 * len(users), act)
    assert set(answers[1::2]) == {201} and set(answers[0::2]) <= {201, 409}
    # Serially, an invitation is either used by the join or refused as already_member.
    invites = api.call("GET", f"/groups/{group['id']}/invites?per_page=100", owner, expect=200).json()
    assert invites["items"] == []
    members = api.call("GET", f"/groups/{group['id']}/members?per_page=100", owner, expect=200).json()
    assert members["total"] == len(users) + 1
