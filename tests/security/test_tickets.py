"""Tickets abused across /ws, /sse and /ticket: reused, raced, expired, orphaned, misused as tokens.

The JWT cases (alg none, HS/RS confusion, wrong key, expired, not yet valid, refresh as
access, tampered, deleted user) on all three routes are in tests/realtime/test_ws_auth.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import gevent
import pytest

from tests.support.sse import SseStream
from tests.support.stats import StatsProbe
from tests.support.ws import HandshakeRefused, ws_connect


def _redeem(transport: str, server: Any, ticket: str) -> tuple[int, str | None, Any]:
    ticket = quote(ticket, safe="%")
    if transport == "sse":
        stream = SseStream(server, query=f"?ticket={ticket}")
        code = stream.response.json()["error"]["code"] if stream.status != 200 else None
        return stream.status, code, stream
    try:
        return 101, None, ws_connect(server, query=f"?ticket={ticket}")
    except HandshakeRefused as exc:
        return exc.status, exc.code, None


@pytest.mark.parametrize("first, second", [("ws", "sse"), ("sse", "ws"), ("sse", "sse")])
def test_a_ticket_works_once_whatever_the_transport(live_server, api, bystander, observer,
                                                     first, second) -> None:
    anna = api.register("anna")
    probe = StatsProbe(api, observer)
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    status, _, stream = _redeem(first, live_server, ticket)
    assert status in (101, 200)
    assert _redeem(second, live_server, ticket)[:2] == (401, "invalid_ticket")
    stream.close()
    assert probe.delta()["handshake_failures_by_reason"] == {"invalid_ticket": 1}
    bystander.assert_unaffected()


def test_a_ticket_raced_by_simultaneous_handshakes_admits_one(live_server, api, bystander) -> None:
    anna = api.register("anna")
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    results: list[tuple[int, str | None, Any]] = []
    greenlets = [gevent.spawn(lambda i=i: results.append(_redeem("ws" if i % 2 else "sse", live_server,
                                                                    ticket))) for i in range(8)]
    gevent.joinall(greenlets, timeout=20, raise_error=True)
    accepted = [r for r in results if r[0] in (101, 200)]
    assert len(accepted) == 1, [r[:2] for r in results]
    assert sorted(r[:2] for r in results if r not in accepted) == [(401, "invalid_ticket")] * 7
    accepted[0][2].close()
    bystander.assert_unaffected()


@pytest.mark.realtime_config(REALTIME_TICKET_TTL=-1.0)
def test_an_expired_ticket_is_refused_on_sse(live_server, api) -> None:
    anna = api.register("anna")
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    assert _redeem("sse", live_server, ticket)[:2] == (401, "invalid_ticket")


@pytest.mark.parametrize("transport", ["ws", "sse"])
@pytest.mark.parametrize("action, expect", [("DELETE", 204), ("POST", 200)])
def test_a_ticket_of_a_user_deleted_or_disabled_since_is_refused(live_server, api, transport,
                                                                  action, expect) -> None:
    anna = api.register("anna")
    admin = api.register_admin()
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    path = f"/admin/users/{anna['user']['id']}" + ("/disable" if action == "POST" else "")
    api.call(action, path, admin, expect=expect)
    assert _redeem(transport, live_server, ticket)[:2] == (401, "user_inactive")


def test_a_ticket_is_not_a_token(live_server, api) -> None:
    """A ticket opens one stream; it authenticates nothing else and mints no more tickets."""
    anna = api.register("anna")
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    as_bearer = {"Authorization": f"Bearer {ticket}"}
    response = api.http.post(f"{api.base}/realtime/ticket", headers=as_bearer, timeout=10)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_token")
    response = api.http.post(f"{api.base}/realtime/ticket?ticket={ticket}", timeout=10)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "missing_token")
    response = api.http.get(f"{api.base}/auth/me", headers=as_bearer, timeout=10)
    assert response.status_code == 401
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, headers=as_bearer)
    assert (info.value.status, info.value.code) == (401, "invalid_token")
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, subprotocols=["itcook.v1", f"bearer.{ticket}"])
    assert (info.value.status, info.value.code) == (401, "invalid_token")
    # None of that spent it.
    status, _, stream = _redeem("ws", live_server, ticket)
    assert status == 101
    stream.close()


@pytest.mark.parametrize("ticket", ["", "x", "x" * 101, "%00" * 20, "' OR 1=1 --" + "x" * 10, "\u00e9" * 20])
def test_malformed_tickets_are_refused(live_server, api, ticket) -> None:
    for transport in ("ws", "sse"):
        assert _redeem(transport, live_server, ticket)[:2] == (401, "invalid_ticket")
