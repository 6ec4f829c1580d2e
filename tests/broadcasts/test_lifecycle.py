"""Broadcast lifecycle over REST: create (steps or a recipe's), start, step, end; only the host
controls; followers and community hear LiveStarted (live and in the inbox); bad input is a
JSON error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _create(api: Api, host: dict[str, Any], **body: Any) -> dict[str, Any]:
    return api.call("POST", "/live", host, expect=201, json={"title": "Borscht", **body}).json()


def test_a_broadcast_goes_from_scheduled_to_live_to_ended(live_server, api) -> None:
    anna = api.register("anna")
    live = _create(api, anna, steps=["Chop", "  Boil  "])
    assert (live["status"], live["steps"]) == ("scheduled", ["Chop", "Boil"])
    assert live["host_id"] == anna["user"]["id"]
    listed = api.call("GET", "/live", anna, expect=200).json()["items"]
    assert [b["id"] for b in listed] == [live["id"]]
    started = api.call("POST", f"/live/{live['id']}/start", anna, expect=200).json()
    assert started["status"] == "live" and started["started_at"]
    viewer = ws_connect(live_server, api.register("boris")["access_token"])
    viewer.subscribe(f"live:{live['id']}")
    api.call("POST", f"/live/{live['id']}/step", anna, expect=200, json={"index": 1})
    frame = viewer.recv_type("LiveStep")
    assert frame["channel"] == f"live:{live['id']}" and frame["id"]
    assert frame["data"] == {"live_id": live["id"], "index": 1, "text": "Boil"}
    assert api.call("GET", f"/live/{live['id']}", anna, expect=200).json()["current_step"] == 1
    ended = api.call("POST", f"/live/{live['id']}/end", anna, expect=200).json()
    assert ended["status"] == "ended" and ended["ended_at"]
    assert viewer.recv_type("LiveEnded")["data"] == {"live_id": live["id"]}
    assert api.call("GET", "/live", anna, expect=200).json()["items"] == []
    api.call("POST", f"/live/{live['id']}/start", anna, expect=409)
    api.call("POST", f"/live/{live['id']}/end", anna, expect=409)
    # Ended, it is still readable, and its channel may still be joined.
    viewer.subscribe(f"live:{live['id']}")
    viewer.close()


def test_steps_come_from_the_recipe_when_none_are_given(live_server, api) -> None:
    anna = api.register("anna")
    job = api.call("POST", "/recipes/generate", anna, expect=202,
                   json={"ingredients": ["beet", "potato"]}).json()
    wait_for(lambda: api.call("GET", f"/recipes/jobs/{job['job_id']}", anna).json()["status"] == "done",
             timeout=20, what="the recipe")
    recipe_id = api.call("GET", f"/recipes/jobs/{job['job_id']}", anna).json()["recipe_id"]
    recipe = api.call("GET", f"/recipes/{recipe_id}", anna, expect=200).json()
    live = _create(api, anna, recipe_id=recipe_id)
    assert live["steps"] == recipe["steps"] and live["steps"] and live["recipe_id"] == recipe_id
    assert _create(api, anna, recipe_id=recipe_id, steps=["Mine"])["steps"] == ["Mine"]
    assert api.call("POST", "/live", anna, expect=404,
                    json={"title": "x", "recipe_id": 999999}).json()["error"]["code"] == "recipe_not_found"


def test_only_the_host_controls_the_broadcast(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    live = _create(api, anna, steps=["Chop"])
    for path, body in (("start", None), ("end", None), ("step", {"index": 0}), ("mute", {"user_id": 1})):
        answer = api.call("POST", f"/live/{live['id']}/{path}", boris, expect=403, json=body or {})
        assert answer.json()["error"]["code"] == "not_host", path
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    message = api.call("POST", f"/live/{live['id']}/chat", anna, expect=201, json={"text": "hi"}).json()
    answer = api.call("DELETE", f"/live/{live['id']}/chat/{message['id']}", boris, expect=403)
    assert answer.json()["error"]["code"] == "not_host"
    assert api.call("GET", f"/live/{live['id']}", boris, expect=200).json()["status"] == "live"


def test_followers_and_community_hear_that_the_cook_went_live(live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    api.call("POST", f"/community/users/{anna['user']['id']}/follow", boris, expect=201)
    follower = ws_connect(live_server, boris["access_token"])
    stranger = ws_connect(live_server, carol["access_token"])
    live = _create(api, anna)
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    data = {"live_id": live["id"], "host_id": anna["user"]["id"], "host_name": "anna", "title": "Borscht"}
    frames = [follower.recv_type("LiveStarted"), follower.recv_type("LiveStarted")]
    assert sorted(f["channel"] for f in frames) == ["community", "personal"]
    assert all(f["data"] == data and f["id"] for f in frames)
    community = stranger.recv_type("LiveStarted")
    assert community["channel"] == "community" and community["data"] == data
    inbox = api.call("GET", "/notifications", boris, expect=200).json()["items"]
    assert [(n["type"], n["data"]) for n in inbox] == [("LiveStarted", data)]
    assert "anna is cooking live" in inbox[0]["body"]
    assert api.call("GET", "/notifications", carol, expect=200).json()["items"] == []
    follower.close()
    stranger.close()


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/live", {}, 400, "missing_field"),
    ("POST", "/live", {"title": ""}, 400, "invalid_field"),
    ("POST", "/live", {"title": "x" * 201}, 400, "invalid_field"),
    ("POST", "/live", {"title": "x", "steps": "Chop"}, 400, "invalid_field"),
    ("POST", "/live", {"title": "x", "steps": ["ok", 3]}, 400, "invalid_field"),
    ("POST", "/live", {"title": "x", "steps": [" "]}, 400, "invalid_field"),
    ("POST", "/live", {"title": "x", "steps": ["a"] * 101}, 400, "invalid_field"),
    ("POST", "/live", {"title": "x", "recipe_id": "1"}, 400, "invalid_field"),
    ("POST", "/live", "[]", 400, "invalid_json"),
    ("GET", "/live/999999", None, 404, "live_not_found"),
    ("POST", "/live/{id}/step", {"index": 5}, 400, "invalid_field"),
    ("POST", "/live/{id}/step", {"index": -1}, 400, "invalid_field"),
    ("POST", "/live/{id}/step", {"index": True}, 400, "invalid_field"),
    ("POST", "/live/{id}/step", {}, 400, "missing_field"),
    ("POST", "/live/{id}/chat", {"text": ""}, 400, "invalid_field"),
    ("POST", "/live/{id}/chat", {"text": "x" * 501}, 400, "invalid_field"),
    ("POST", "/live/{id}/chat", {"text": 5}, 400, "invalid_field"),
    ("DELETE", "/live/{id}/chat/999999", None, 404, "message_not_found"),
    ("POST", "/live/{id}/mute", {"user_id": 999999}, 404, "user_not_found"),
    ("POST", "/live/{id}/mute", {"user_id": "2"}, 400, "invalid_field"),
    ("POST", "/live/{id}/mute", {"user_id": "me"}, 400, "invalid_field"),
    ("GET", "/live/{id}/media?", None, 200, None),
])
def test_bad_input_gets_a_clear_json_error(live_server, api, method, path, body, status, code) -> None:
    anna = api.register("anna")
    live = _create(api, anna, steps=["Chop", "Boil"])
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    kwargs = {"data": body, "headers": {**anna["headers"], "Content-Type": "application/json"}} \
        if isinstance(body, str) else {"json": body}
    if isinstance(body, str):
        answer = api.http.request(method, api.base + path.format(id=live["id"]), timeout=10, **kwargs)
    else:
        answer = api.call(method, path.format(id=live["id"]), anna, **kwargs)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code
    assert api.call("GET", f"/live/{live['id']}", anna, expect=200).json()["status"] == "live"


def test_what_needs_a_live_broadcast_says_so(live_server, api) -> None:
    anna = api.register("anna")
    live = _create(api, anna, steps=["Chop"])
    for method, path, body in (("POST", "step", {"index": 0}), ("POST", "chat", {"text": "hi"}),
                               ("GET", "media", None)):
        answer = api.call(method, f"/live/{live['id']}/{path}", anna, expect=409, json=body)
        assert answer.json()["error"]["code"] == "not_live", path
    api.call("POST", f"/live/{live['id']}/end", anna, expect=200)  # a scheduled one is cancelled
    api.call("POST", f"/live/{live['id']}/start", anna, expect=409)
