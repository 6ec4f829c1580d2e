"""The media answer without a media server: the host sends peer to peer to the first
``ITCOOK_LIVE_P2P_MAX_VIEWERS`` viewers; the next is told why there is no video; a slot is
freed when its viewer leaves; Signal frames pass only between the host and a slot holder."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from itcook.broadcasts.media import may_signal
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _media(api: Api, user: dict[str, Any], live_id: int) -> dict[str, Any]:
    return api.call("GET", f"/live/{live_id}/media", user, expect=200).json()


def _signal_allowed(app: Flask, a: dict[str, Any], b: dict[str, Any], live_id: int) -> bool:
    with app.app_context():
        return may_signal(a["user"]["id"], b["user"]["id"], live_id)


def test_the_fifth_viewer_is_told_why_and_gets_a_slot_once_one_leaves(live_server, api) -> None:
    anna = api.register("anna")
    live = api.call("POST", "/live", anna, expect=201, json={"title": "Plov"}).json()
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    channel = f"live:{live['id']}"
    users = [api.register(f"viewer{i}") for i in range(5)]
    clients = [ws_connect(live_server, u["access_token"], query=f"?channels={channel}") for u in users]
    wait_for(lambda: len(live_server.state.hub.channels.get(channel, ())) == 5, what="subscriptions")
    p2p = {"mode": "p2p", "role": "subscriber", "host_id": anna["user"]["id"], "call_id": channel,
           "ice_servers": []}
    for user in users[:4]:
        assert _media(api, user, live["id"]) == p2p
    assert _media(api, users[0], live["id"]) == p2p  # asking again keeps the slot
    full = _media(api, users[4], live["id"])
    assert full["mode"] == "unavailable" and full["reason"] == "p2p_full" and "chat" in full["message"]
    host = _media(api, anna, live["id"])
    assert host["role"] == "publisher" and host["viewers"] == [u["user"]["id"] for u in users[:4]]
    assert _signal_allowed(live_server.app, anna, users[1], live["id"])
    assert _signal_allowed(live_server.app, users[1], anna, live["id"])
    assert not _signal_allowed(live_server.app, anna, users[4], live["id"])
    assert not _signal_allowed(live_server.app, users[1], users[2], live["id"])
    assert not _signal_allowed(live_server.app, anna, users[1], "nonsense")
    clients[1].close()
    wait_for(lambda: len(live_server.state.hub.channels.get(channel, ())) == 4, what="viewer gone")
    assert _media(api, users[4], live["id"]) == p2p
    assert _media(api, users[1], live["id"])["mode"] == "unavailable"  # back, but now fifth
    assert not _signal_allowed(live_server.app, anna, users[1], live["id"])
    api.call("POST", f"/live/{live['id']}/end", anna, expect=200)
    assert not _signal_allowed(live_server.app, anna, users[4], live["id"])
    answer = api.call("GET", f"/live/{live['id']}/media", users[4], expect=409)
    assert answer.json()["error"]["code"] == "not_live"
    for client in clients:
        client.close()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "LIVE_P2P_MAX_VIEWERS": 4}
