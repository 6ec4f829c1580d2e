"""TURN credentials of GET /calls/ice-servers against coturn itself: accepted while valid,
refused once expired or forged."""

from __future__ import annotations

from typing import Any

import pytest

from itcook.calls.ice import turn_credential
from tests.support.rest import Api
from tests.support.servers import LiveServer, make_test_config
from tests.support.turn import allocate


@pytest.fixture
def app_config(tmp_path, turn) -> dict[str, Any]:
    """The app of the test hands out credentials for this coturn."""
    return make_test_config(tmp_path, **turn.app_settings(TURN_TTL=600))


def _turn_entry(answer: dict[str, Any]) -> dict[str, Any]:
    (entry,) = [e for e in answer["ice_servers"] if any(u.startswith("turn:") for u in e["urls"])]
    return entry


def test_coturn_accepts_the_credential_the_app_hands_out(live_server: LiveServer, turn) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    answer = api.call("GET", "/calls/ice-servers", anna, expect=200).json()
    entry = _turn_entry(answer)
    assert entry["urls"] == turn.urls and answer["ttl"] == 600
    granted = allocate(turn.port, entry["username"], entry["credential"])
    assert granted.error is None and granted.relayed is not None
    assert granted.relayed[0] == "127.0.0.1"
    # The very answer of a join carries one too.
    joined = api.call("POST", f"/calls/{_call(api, anna)}/join", anna, expect=200).json()
    entry = _turn_entry(joined)
    assert allocate(turn.port, entry["username"], entry["credential"]).error is None


def _call(api: Api, user: dict[str, Any]) -> int:
    group = api.call("POST", "/groups", user, expect=201, json={"name": "K", "open": True}).json()
    return int(api.call("POST", f"/groups/{group['id']}/calls", user, expect=201).json()["id"])


def test_coturn_refuses_an_expired_or_forged_credential(turn) -> None:
    import time

    expired = turn_credential(turn.secret, 7, ttl=-60)
    assert int(expired[0].split(":")[0]) < time.time()
    assert allocate(turn.port, *expired).error == 401
    forged = turn_credential("not-" + turn.secret, 7, ttl=600)
    assert allocate(turn.port, *forged).error == 401
    # Its own secret, still valid: granted (the refusals above are about the credential).
    assert allocate(turn.port, *turn_credential(turn.secret, 7, ttl=600)).error is None
