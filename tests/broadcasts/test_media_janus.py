"""The media answer with a real Janus (tests/support/janus.py): starting opens a private room,
the host gets a token of their own that Janus accepts, a viewer is told to wait until the host
publishes (the browser test sees the tokens viewers get then), ending revokes them and destroys
the room, and so does disabling or deleting the user; a Janus that cannot be reached leaves the
broadcast scheduled with a clear error."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from itcook.broadcasts.janus import PLUGIN
from tests.support.janus import JanusServer
from tests.support.rest import Api
from tests.support.servers import free_port


@pytest.fixture
def app_config(app_config: dict[str, Any], janus_server: JanusServer) -> dict[str, Any]:
    return {**app_config, "JANUS_URL": janus_server.url, "JANUS_ADMIN_URL": janus_server.admin_url,
            "JANUS_ADMIN_SECRET": janus_server.admin_secret}


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _room_exists(server: JanusServer, token: str, room: int) -> Any:
    """VideoRoom ``exists`` as a browser holding ``token`` asks it; None if Janus refuses the token."""
    def call(url: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = requests.post(url, json={**body, "transaction": uuid.uuid4().hex, "token": token},
                               timeout=5).json()
        assert isinstance(answer, dict)
        return answer

    session = call(server.url, {"janus": "create"})
    if session["janus"] != "success":
        assert session["error"]["code"] == 403, session
        return None
    url = f"{server.url}/{session['data']['id']}"
    handle = call(url, {"janus": "attach", "plugin": PLUGIN})["data"]["id"]
    answer = call(f"{url}/{handle}", {"janus": "message", "body": {"request": "exists", "room": room}})
    call(url, {"janus": "destroy"})
    return answer["plugindata"]["data"]["exists"]


def _tokens(server: JanusServer) -> list[str]:
    """The tokens Janus accepts now (admin ``list_tokens``)."""
    answer = requests.post(server.admin_url, json={"janus": "list_tokens", "transaction": "t",
                                                   "admin_secret": server.admin_secret}, timeout=5).json()
    return [entry["token"] for entry in answer["data"]["tokens"]]


def _exists(server: JanusServer, room: int) -> Any:
    """Whether Janus still has ``room``, asked with a token of the test's own."""
    token = "test-" + uuid.uuid4().hex
    requests.post(server.admin_url, json={"janus": "add_token", "token": token, "transaction": "t",
                                          "admin_secret": server.admin_secret}, timeout=5)
    try:
        return _room_exists(server, token, room)
    finally:
        requests.post(server.admin_url, json={"janus": "remove_token", "token": token, "transaction": "t",
                                              "admin_secret": server.admin_secret}, timeout=5)


def _go_live(api: Api, host: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    live = api.call("POST", "/live", host, expect=201, json={"title": "Plov"}).json()
    api.call("POST", f"/live/{live['id']}/start", host, expect=200)
    return live["id"], api.call("GET", f"/live/{live['id']}/media", host, expect=200).json()


def test_the_host_gets_a_token_and_viewers_wait_for_the_hosts_video(live_server, api, janus_server) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    live_id, host = _go_live(api, anna)
    assert {k: host[k] for k in ("mode", "role", "janus_url", "state")} == {
        "mode": "janus", "role": "publisher", "janus_url": janus_server.url, "state": "ready"}
    assert isinstance(host["publisher_id"], int) and 0 < host["publisher_id"] < 2**53
    assert api.call("GET", f"/live/{live_id}/media", anna).json()["token"] == host["token"]
    assert _room_exists(janus_server, host["token"], host["room"]) is True
    # The host has not published: a viewer gets no token yet, and is told why (more than the
    # peer-to-peer limit of them: the media server takes them all).
    for viewer in (boris, carol, *(api.register(f"viewer{i}") for i in range(5))):
        waiting = api.call("GET", f"/live/{live_id}/media", viewer, expect=200).json()
        assert {k: waiting[k] for k in ("mode", "role", "state", "reason", "room")} == {
            "mode": "janus", "role": "subscriber", "state": "waiting", "reason": "host_not_publishing",
            "room": host["room"]}
        assert "token" not in waiting and "publisher_id" not in waiting and waiting["retry_after"] > 0
    assert _tokens(janus_server) == [host["token"]]  # none granted to a viewer
    assert "secret" not in str(api.call("GET", f"/live/{live_id}", boris).json())
    api.call("POST", f"/live/{live_id}/end", anna, expect=200)
    assert _room_exists(janus_server, host["token"], host["room"]) is None  # revoked
    assert _exists(janus_server, host["room"]) is False
    check = api.call("GET", f"/live/{live_id}/media", boris, expect=409)
    assert check.json()["error"]["code"] == "not_live"


def test_a_disabled_user_loses_their_token_and_a_deleted_host_their_room(live_server, api,
                                                                         janus_server) -> None:
    root = api.register_admin()
    anna, boris = api.register("anna"), api.register("boris")
    first, anna_media = _go_live(api, anna)
    second, boris_media = _go_live(api, boris)
    # Disabled: Janus refuses the token at once, while the broadcast goes on.
    api.call("POST", f"/admin/users/{anna['user']['id']}/disable", root, expect=200)
    assert _room_exists(janus_server, anna_media["token"], anna_media["room"]) is None
    assert _tokens(janus_server) == [boris_media["token"]]
    assert _exists(janus_server, anna_media["room"]) is True
    # Deleted: their token is revoked and the room of the broadcast they hosted destroyed.
    api.call("DELETE", f"/admin/users/{boris['user']['id']}", root, expect=204)
    assert _tokens(janus_server) == []
    assert _exists(janus_server, boris_media["room"]) is False
    api.call("GET", f"/live/{second}", root, expect=404)
    assert api.call("GET", f"/live/{first}", root, expect=200).json()["status"] == "live"


def test_a_janus_that_cannot_be_reached_leaves_the_broadcast_scheduled(live_server, api) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    live_server.app.config.update(JANUS_URL=nobody + "/janus", JANUS_ADMIN_URL=nobody + "/admin")
    live_server.app.extensions.pop("janus", None)
    anna = api.register("anna")
    live = api.call("POST", "/live", anna, expect=201, json={"title": "Plov"}).json()
    answer = api.call("POST", f"/live/{live['id']}/start", anna, expect=503)
    assert answer.json()["error"]["code"] == "media_unavailable"
    assert api.call("GET", f"/live/{live['id']}", anna, expect=200).json()["status"] == "scheduled"
