"""Conformance shown by independent WebSocket implementations (Autobahn cannot run here):
the ``websockets`` library and Node's ``ws`` package each complete a session per credential
form against the real server — connect (bearer header, ticket, ``itcook.v1, bearer.<jwt>``),
subscribe, receive an event, ping/pong, close with a code and get the server's echo.

Each client runs in its own process (tests/clients/websockets_session.py, node/session.js);
the server runs in this one. Chromium's session is in tests/browser/test_raw_protocol.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.rest import Api
from tests.support.stats import StatsProbe
from tests.support.waiting import wait_for

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
FORMS = ["bearer", "ticket", "subprotocol"]


def _node_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "ws").is_dir():
        return "the ws package is not installed: run `npm ci` in tests/clients/node (.ci/run does)"
    return None


CLIENTS = {
    "websockets": lambda args: [sys.executable, str(HERE / "websockets_session.py"), args],
    "node-ws": lambda args: ["node", str(NODE_DIR / "session.js"), args],
}


@pytest.mark.parametrize("client", list(CLIENTS))
def test_independent_client_completes_a_session_with_each_credential_form(live_server, client) -> None:
    if client == "node-ws" and (reason := _node_missing()):
        pytest.skip(reason)
    api = Api(live_server)
    user = api.register("independent")
    probe = StatsProbe(api, api.register("observer"))
    args = json.dumps({"base": live_server.url, "token": user["access_token"], "forms": FORMS})
    done = subprocess.run(CLIENTS[client](args), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, f"{client} failed:\n{done.stdout}\n{done.stderr}"
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["form"] for r in results] == FORMS
    for result in results:
        _check_session(result)
    # The server saw three clean sessions: each close counted as normal, nothing refused.
    want = {"disconnects_by_reason": {"normal": len(FORMS)}, "errors_by_code": {},
            "handshake_failures_by_reason": {}}
    wait_for(lambda: probe.delta() == want, what=f"/stats to show {want}")


def _check_session(result: dict[str, Any]) -> None:
    form = result["form"]
    assert result["subprotocol"] == ("itcook.v1" if form == "subprotocol" else None), result
    assert result["subscribed"] == ["community"], result
    event = result["event"]
    assert event["type"] == "NewCommunityPost" and event["channel"] == "community", result
    assert isinstance(event["id"], int) and event["ts"].endswith("Z"), result
    assert result["pong"] == f"ping {form}", result
    assert (result["close_code"], result["close_reason"]) == (4000, f"bye {form}"), result
