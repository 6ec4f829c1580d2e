"""The media answer without a media server: the host sends peer to peer to the first
``ITCOOK_LIVE_P2P_MAX_VIEWERS`` viewers; the next is told why there is no video; a slot is
freed when its viewer leaves; Signal frames (``call_id`` ``"live:<id>"``) pass only between
the host and a slot holder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import Client, ws_connect


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "LIVE_P2P_MAX_VIEWERS": 4, "STUN_URLS": ["stun:127.0.0.1:3478"]}


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _media(api: Api, user: dict[str, Any], live_id: int) -> dict[str, Any]:
    return api.call("GET", f"/live/{live_id}/media", user, expect=200).json()


def _signal(sender: Client, to: dict[str, Any], call_id: str) -> None:
    sender.send({"type": "Signal", "call_id": call_id, "to": to["user"]["id"], "kind": "offer",
                 "data": {"type": "offer", "sdp": "v=0"}})


def _refused(sender: Client) -> None:
    assert sender.recv_type("Error")["data"]["code"] == "not_in_call"


def _relayed(receiver: Client, sender: dict[str, Any], call_id: str) -> None:
    frame = receiver.recv_type("Signal")
    assert "id" not in frame
    assert frame["data"] == {"call_id": call_id, "from": sender["user"]["id"], "kind": "offer",
                             "data": {"type": "offer", "sdp": "v=0"}}


def test_the_fifth_viewer_is_told_why_and_gets_a_slot_once_one_leaves(live_server, api) -> None:
    anna = api.register("anna")
    live = api.call("POST", "/live", anna, expect=201, json={"title": "Plov"}).json()
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    channel = f"live:{live['id']}"
    users = [api.register(f"viewer{i}") for i in range(5)]
    clients = [ws_connect(live_server, u["access_token"], query=f"?channels=personal,{channel}")
               for u in users]
    wait_for(lambda: len(live_server.state.hub.channels.get(channel, ())) == 5, what="subscriptions")
    ice = api.call("GET", "/calls/ice-servers", users[0], expect=200).json()["ice_servers"]
    assert ice == [{"urls": ["stun:127.0.0.1:3478"]}]
    p2p = {"mode": "p2p", "role": "subscriber", "host_id": anna["user"]["id"], "call_id": channel,
           "ice_servers": ice}
    for user in users[:4]:
        assert _media(api, user, live["id"]) == p2p
    assert _media(api, users[0], live["id"]) == p2p  # asking again keeps the slot
    full = _media(api, users[4], live["id"])
    assert full["mode"] == "unavailable" and full["reason"] == "p2p_full" and "chat" in full["message"]
    host_media = _media(api, anna, live["id"])
    assert host_media["role"] == "publisher" and host_media["viewers"] == [u["user"]["id"] for u in users[:4]]

    host = ws_connect(live_server, anna["access_token"])
    _signal(host, users[1], channel)
    _relayed(clients[1], anna, channel)
    _signal(clients[1], anna, channel)
    _relayed(host, users[1], channel)
    _signal(host, users[4], channel)  # no slot: no video, no signalling
    _refused(host)
    _signal(clients[1], users[2], channel)  # viewers do not signal each other
    _refused(clients[1])
    _signal(host, users[1], f"live:{live['id'] + 1}")  # another broadcast
    _refused(host)

    clients[1].close()
    wait_for(lambda: len(live_server.state.hub.channels.get(channel, ())) == 4, what="viewer gone")
    assert _media(api, users[4], live["id"]) == p2p
    _signal(host, users[4], channel)
    _relayed(clients[4], anna, channel)
    clients[1] = ws_connect(live_server, users[1]["access_token"], query=f"?channels=personal,{channel}")
    assert _media(api, users[1], live["id"])["mode"] == "unavailable"  # back, but now fifth
    _signal(host, users[1], channel)
    _refused(host)

    api.call("POST", f"/live/{live['id']}/end", anna, expect=200)
    _signal(host, users[4], channel)
    _refused(host)
    answer = api.call("GET", f"/live/{live['id']}/media", users[4], expect=409)
    assert answer.json()["error"]["code"] == "not_live"
    for client in (*clients, host):
        client.close()
