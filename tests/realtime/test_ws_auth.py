"""Connection admission: every credential form, every auth failure answered 401 before the upgrade."""

from __future__ import annotations

import datetime as dt

import jwt as pyjwt
import pytest

from tests.realtime.conftest import raw_handshake, wait_for
from tests.realtime.wsclient import Api, ConnectionClosed, HandshakeRefused, ws_connect


def _status_and_code(exc: HandshakeRefused) -> tuple[int, str]:
    return exc.status, exc.code


def _forged(app, user_id: int, **changes) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user_id), "type": "access", "fresh": False, "jti": "j", "iat": now,
              "nbf": now, "exp": now + dt.timedelta(minutes=5)}
    key = changes.pop("key", app.config["JWT_SECRET_KEY"])
    alg = changes.pop("alg", "HS256")
    claims.update(changes)
    return pyjwt.encode(claims, key, alg)


def test_bearer_header_is_accepted(live_server) -> None:
    anna = Api(live_server).register("anna")
    client = ws_connect(live_server, anna["access_token"])
    assert live_server.state.hub.user_connection_count(anna["user"]["id"]) == 1
    client.close()


def test_ticket_is_single_use(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()
    assert ticket["expires_in"] > 0
    client = ws_connect(live_server, query=f"?ticket={ticket['ticket']}")
    client.close()
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, query=f"?ticket={ticket['ticket']}")
    assert _status_and_code(info.value) == (401, "invalid_ticket")


@pytest.mark.realtime_config(REALTIME_TICKET_TTL=-1.0)
def test_expired_ticket_is_refused(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, query=f"?ticket={ticket}")
    assert _status_and_code(info.value) == (401, "invalid_ticket")


def test_ticket_requires_auth(live_server) -> None:
    response = Api(live_server).call("POST", "/realtime/ticket")
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_token"


def test_subprotocol_bearer_pair_answers_itcook_v1(live_server) -> None:
    anna = Api(live_server).register("anna")
    client = ws_connect(live_server, subprotocols=["itcook.v1", f"bearer.{anna['access_token']}"])
    assert client.subprotocol == "itcook.v1"
    client.close()


def test_permessage_deflate_is_not_negotiated(live_server) -> None:
    anna = Api(live_server).register("anna")
    sock, head = raw_handshake(live_server.port, headers={
        "Authorization": f"Bearer {anna['access_token']}",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
    assert head.startswith("HTTP/1.1 101")
    assert "sec-websocket-extensions" not in head.lower()
    sock.close()


@pytest.mark.parametrize("case, expected_code", [
    ("missing", "missing_token"),
    ("malformed", "invalid_token"),
    ("not_bearer", "invalid_token"),
    ("wrong_key", "invalid_token"),
    ("alg_none", "invalid_token"),
    ("expired", "token_expired"),
    ("refresh", "invalid_token"),
    ("deleted_user", "user_inactive"),
    ("bad_ticket", "invalid_ticket"),
    ("bearer_subprotocol_alone", "invalid_token"),
])
def test_auth_failures_are_401_before_upgrade(live_server, case, expected_code) -> None:
    app = live_server.app
    anna = Api(live_server).register("anna")
    uid = anna["user"]["id"]
    headers: dict[str, str] = {}
    query, subprotocols = "", None
    if case == "malformed":
        headers["Authorization"] = "Bearer abc.def"
    elif case == "not_bearer":
        headers["Authorization"] = "Token abc"
    elif case == "wrong_key":
        headers["Authorization"] = "Bearer " + _forged(app, uid, key="k" * 48)
    elif case == "alg_none":
        headers["Authorization"] = "Bearer " + _forged(app, uid, key=None, alg="none")
    elif case == "expired":
        headers["Authorization"] = "Bearer " + _forged(app, uid, exp=dt.datetime.now(dt.UTC)
                                                       - dt.timedelta(minutes=1))
    elif case == "refresh":
        headers["Authorization"] = f"Bearer {anna['refresh_token']}"
    elif case == "deleted_user":
        headers["Authorization"] = "Bearer " + _forged(app, 999_999)
    elif case == "bad_ticket":
        query = "?ticket=" + "x" * 43
    elif case == "bearer_subprotocol_alone":
        subprotocols = [f"bearer.{anna['access_token']}"]
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, headers=headers, query=query, subprotocols=subprotocols)
    assert _status_and_code(info.value) == (401, expected_code)
    assert live_server.state.hub.connections == set()
    assert live_server.state.hub.stats.handshake_failures[expected_code] >= 1


def test_origin_rules(live_server) -> None:
    token = Api(live_server).register("anna")["access_token"]
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, token, origin="https://evil.example")
    assert _status_and_code(info.value) == (403, "origin_not_allowed")
    same = ws_connect(live_server, token, origin=f"http://127.0.0.1:{live_server.port}")
    same.close()
    no_origin = ws_connect(live_server, token)
    no_origin.close()


@pytest.mark.realtime_config(REALTIME_ALLOWED_ORIGINS=["https://app.example"])
def test_configured_origin_is_allowed(live_server) -> None:
    token = Api(live_server).register("anna")["access_token"]
    ws_connect(live_server, token, origin="https://app.example").close()
    with pytest.raises(HandshakeRefused):
        ws_connect(live_server, token, origin="https://other.example")


@pytest.mark.realtime_config(REALTIME_MAX_CONNECTIONS_PER_USER=2)
def test_connections_per_user_cap(live_server) -> None:
    token = Api(live_server).register("anna")["access_token"]
    first, second = ws_connect(live_server, token), ws_connect(live_server, token)
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, token)
    assert _status_and_code(info.value) == (429, "too_many_connections")
    first.close()
    wait_for(lambda: live_server.state.hub.user_connection_count(1) == 1, what="first to leave")
    ws_connect(live_server, token).close()
    second.close()


def test_plain_get_and_bad_handshake_are_json_400(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    response = api.call("GET", "/realtime/ws", anna)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "websocket_required"
    sock, head = raw_handshake(live_server.port, headers={"Sec-WebSocket-Version": "8"})
    assert head.startswith("HTTP/1.1 400")
    sock.close()


def test_user_disabled_after_connecting_is_disconnected(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    admin = api.register("root")
    with live_server.app.app_context():
        from itcook.extensions import db
        from itcook.models import User

        db.session.get(User, admin["user"]["id"]).role = "admin"
        db.session.commit()
    client = ws_connect(live_server, anna["access_token"])
    api.call("POST", f"/admin/users/{anna['user']['id']}/disable", admin, expect=200)
    with pytest.raises(ConnectionClosed) as info:
        client.recv(timeout=5)
    assert info.value.code == 4003
    wait_for(lambda: not live_server.state.hub.connections, what="hub to empty")
    assert live_server.state.hub.stats.disconnects["user_revoked"] == 1
