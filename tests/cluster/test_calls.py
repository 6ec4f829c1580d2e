"""Calls across two real processes (PostgreSQL + Redis): Signal frames cross through the broker,
a removal on one process drops the member on the other, and the away check sees connections
on every process."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.calls import call_with, recv_error, recv_signal, signal
from tests.support.cluster import Cluster
from tests.support.rest import Api
from tests.support.ws import Client, ws_connect


@pytest.fixture
def cluster_settings() -> dict[str, str]:
    return {"ITCOOK_CALL_AWAY_SECONDS": "1"}


def _left(client: Client, channel: str) -> dict[str, Any]:
    return client.recv_until("CallParticipantLeft", lambda f: f["channel"] == channel, timeout=10)["data"]


def test_signals_cross_processes_and_a_removal_on_one_drops_the_member_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    api = Api(a)
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    call_id = call_with(api, anna, boris)
    channel = f"call:{call_id}"
    on_a = ws_connect(a, anna["access_token"], query=f"?channels=personal,{channel}", timeout=10)
    on_b = ws_connect(b, boris["access_token"], query=f"?channels=personal,{channel}", timeout=10)
    outsider = ws_connect(b, carol["access_token"], timeout=10)
    signal(on_a, call_id, boris["user"]["id"], "offer", type="offer", sdp="v=0\r\n" * 1000)
    offer = recv_signal(on_b, timeout=10)["data"]
    assert offer["from"] == anna["user"]["id"] and len(offer["data"]["sdp"]) == 5000
    signal(on_b, call_id, anna["user"]["id"], "answer", type="answer", sdp="v=0")
    assert recv_signal(on_a, timeout=10)["data"]["kind"] == "answer"
    signal(outsider, call_id, anna["user"]["id"])
    assert recv_error(outsider, timeout=10)["code"] == "not_in_call"
    group_id = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()["group_id"]
    api.call("DELETE", f"/groups/{group_id}/members/{boris['user']['id']}", anna, expect=200)
    assert _left(on_a, channel)["reason"] == "removed"
    on_b.recv_until("Unsubscribed", lambda f: f["data"]["channels"] == [channel], timeout=10)
    signal(on_b, call_id, anna["user"]["id"])
    assert recv_error(on_b, timeout=10)["code"] == "not_in_call"
    on_a.assert_silent()
    for client in (on_a, on_b, outsider):
        client.close()


def test_the_away_check_sees_a_connection_on_another_process(cluster: Cluster) -> None:
    # Only a runs the check: carol's connection is on b alone.
    a, b = cluster.start(1)[0], cluster.start(1, ITCOOK_CALL_AWAY_SECONDS="0")[0]
    api = Api(a)
    anna, carol, dave = api.register("anna"), api.register("carol"), api.register("dave")
    call_id = call_with(api, anna, carol)
    channel = f"call:{call_id}"
    on_a = ws_connect(a, anna["access_token"], query=f"?channels=personal,{channel}", timeout=10)
    on_b = ws_connect(b, carol["access_token"], query=f"?channels=personal,{channel}", timeout=10)
    group_id = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()["group_id"]
    api.call("POST", f"/groups/{group_id}/join", dave, expect=201)
    # dave joins after carol connected and never connects himself: by the time he is taken out
    # carol would have been, had the process running the check not seen her connection on b.
    api.call("POST", f"/calls/{call_id}/join", dave, expect=200)
    assert _left(on_a, channel) == {"call_id": call_id, "user_id": dave["user"]["id"],
                                    "user_name": "dave", "reason": "away"}
    shown = api.call("GET", f"/calls/{call_id}", anna, expect=200).json()
    assert {p["user_id"] for p in shown["participants"]} == {anna["user"]["id"], carol["user"]["id"]}
    on_b.close()
    assert _left(on_a, channel)["user_id"] == carol["user"]["id"]
    on_a.close()
