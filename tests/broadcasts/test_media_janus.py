"""The media answer with a real Janus (tests/support/janus.py): starting opens a private room,
each user gets a token of their own that Janus accepts, ending revokes them and destroys the
room; a Janus that cannot be reached leaves the broadcast scheduled with a clear error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from itcook.broadcasts.janus import PLUGIN
from tests.support.janus import JanusServer, skip_without_janus, start_janus
from tests.support.rest import Api
from tests.support.servers import free_port


@pytest.fixture
def janus_server(tmp_path: Path) -> Iterator[JanusServer]:
    skip_without_janus()
    server = start_janus(tmp_path / "janus")
    yield server
    server.stop()


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


def test_each_user_gets_a_token_of_their_own_until_the_broadcast_ends(live_server, api, janus_server) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    live = api.call("POST", "/live", anna, expect=201, json={"title": "Plov"}).json()
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    host = api.call("GET", f"/live/{live['id']}/media", anna, expect=200).json()
    assert {k: host[k] for k in ("mode", "role", "janus_url")} == {
        "mode": "janus", "role": "publisher", "janus_url": janus_server.url}
    viewers = [api.call("GET", f"/live/{live['id']}/media", u, expect=200).json() for u in (boris, carol)]
    assert all(v["role"] == "subscriber" and v["room"] == host["room"] for v in viewers)
    tokens = {host["token"], *(v["token"] for v in viewers)}
    assert len(tokens) == 3  # one each
    assert api.call("GET", f"/live/{live['id']}/media", boris).json()["token"] == viewers[0]["token"]
    assert all(_room_exists(janus_server, token, host["room"]) is True for token in tokens)
    assert "secret" not in str(api.call("GET", f"/live/{live['id']}", boris).json())
    # More than the peer-to-peer limit: the media server takes them all.
    for i in range(5):
        extra = api.call("GET", f"/live/{live['id']}/media", api.register(f"viewer{i}"), expect=200).json()
        assert extra["mode"] == "janus"
    api.call("POST", f"/live/{live['id']}/end", anna, expect=200)
    assert all(_room_exists(janus_server, token, host["room"]) is None for token in tokens)  # revoked
    check = api.call("GET", f"/live/{live['id']}/media", boris, expect=409)
    assert check.json()["error"]["code"] == "not_live"


def test_a_janus_that_cannot_be_reached_leaves_the_broadcast_scheduled(live_server, api) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    live_server.app.config.update(JANUS_URL=nobody + "/janus", JANUS_ADMIN_URL=nobody + "/admin")
    live_server.app.extensions.pop("janus", None)
    anna = api.register("anna")
    live = api.call("POST", "/live", anna, expect=201, json={"title": "Plov"}).json()
    answer = api.call("POST", f"/live/{live['id']}/start", anna, expect=503)
    assert answer.json()["error"]["code"] == "media_unavailable"
    assert api.call("GET", f"/live/{live['id']}", anna, expect=200).json()["status"] == "scheduled"
