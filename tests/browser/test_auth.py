"""Auth failures in the browser client: ask the page for a fresh token, never a reconnect storm.

Attempts are counted where they land, on the server: requests to ``/ticket`` (``requests_seen``)
and refused WebSocket handshakes (``handshake_failures``). A short absence window then shows
that nothing more arrives once the client has given up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask_jwt_extended import create_access_token

from tests.support.browser import open_harness, start_client, wait_open
from tests.support.rest import Api
from tests.support.waiting import wait_for

TICKET = "/api/v1/realtime/ticket"
#: Long enough for several attempts at the test's 100 ms backoff, had the client kept trying.
ABSENCE_MS = 1000


def _closed_for_auth(page: Any) -> dict[str, Any]:
    page.wait_for_function("client.state === 'closed'")
    assert page.evaluate("client._timer === null && client._wanted === false")
    return page.evaluate("log")


def _token(app: Any, user_id: int, minutes: float) -> str:
    with app.app_context():
        return create_access_token(identity=str(user_id), expires_delta=dt.timedelta(minutes=minutes))


def test_rejected_token_asks_for_fresh_ones_a_bounded_number_of_times(live_server, new_page,
                                                                      requests_seen) -> None:
    page = new_page()
    open_harness(page, live_server)
    # A page whose getToken() keeps returning tokens the server refuses.
    start_client(page, "not-a-jwt", getTokenMode="garbage", maxAuthRetries=3)
    log = _closed_for_auth(page)
    assert log["getTokenCalls"] == 3
    assert log["authErrors"] == [{"code": "invalid_token"}]
    assert requests_seen.counts[TICKET] == 4  # the first token and the three fresh ones
    page.wait_for_timeout(ABSENCE_MS)
    assert requests_seen.counts[TICKET] == 4
    assert not live_server.state.hub.stats.handshake_failures  # no stream was even attempted


def test_expired_token_is_replaced_through_get_token(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    expired = _token(live_server.app, anna["user"]["id"], minutes=-1)
    page = new_page()
    open_harness(page, live_server)
    # Subprotocol credentials: the refused handshake is invisible to the page (close 1006), so
    # the client asks /ticket why, learns token_expired, and gets a fresh token from the page.
    start_client(page, expired, auth="subprotocol", getTokenMode=anna["access_token"])
    wait_open(page, "websocket")
    log = page.evaluate("log")
    assert log["getTokenCalls"] == 1 and log["authErrors"] == []
    assert dict(live_server.state.hub.stats.handshake_failures) == {"token_expired": 1}


def test_forged_token_over_subprotocol_gives_up_after_one_handshake(live_server, new_page,
                                                                     requests_seen) -> None:
    page = new_page()
    open_harness(page, live_server)
    start_client(page, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged", auth="subprotocol", getTokenMode=None)
    log = _closed_for_auth(page)
    assert log["authErrors"] == [{"code": "invalid_token"}] and log["getTokenCalls"] == 1
    page.wait_for_timeout(ABSENCE_MS)
    assert dict(live_server.state.hub.stats.handshake_failures) == {"invalid_token": 1}
    assert requests_seen.counts[TICKET] == 1  # the one diagnosis


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_disabled_user_is_not_reconnected(live_server, new_page, requests_seen, transport) -> None:
    api = Api(live_server)
    anna, root = api.register("anna"), api.register_admin()
    page = new_page(init_script="delete window.WebSocket;" if transport == "sse" else None)
    open_harness(page, live_server)
    start_client(page, anna["access_token"], getTokenMode=None)
    wait_open(page, transport)

    api.call("POST", f"/admin/users/{anna['user']['id']}/disable", root, expect=200)
    log = _closed_for_auth(page)
    # WebSocket: the close code 4003 says it all. SSE has no close code: one reconnect, whose
    # ticket request is refused (user_inactive), and the client stops there.
    expected = {"websocket": ("user_revoked", 1), "sse": ("user_inactive", 2)}[transport]
    assert log["authErrors"] == [{"code": expected[0]}]
    assert requests_seen.counts[TICKET] == expected[1]
    wait_for(lambda: not live_server.state.hub.connections, what="the stream to be gone")
    page.wait_for_timeout(ABSENCE_MS)
    assert requests_seen.counts[TICKET] == expected[1]
    assert not live_server.state.hub.stats.handshake_failures
