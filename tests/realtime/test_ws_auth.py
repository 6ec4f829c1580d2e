"""Connection admission: every credential form, every auth failure answered 401 before the upgrade."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import warnings

import jwt as pyjwt
import pytest
import requests

from tests.support.frames import raw_handshake
from tests.support.rest import Api
from tests.support.sse import SseStream
from tests.support.waiting import concurrently, wait_for
from tests.support.ws import ConnectionClosed, HandshakeRefused, ws_connect


def _status_and_code(exc: HandshakeRefused) -> tuple[int, str]:
    return exc.status, exc.code


def _session_key(app, user_id: int) -> str | None:
    from itcook.extensions import db
    from itcook.models import User

    with app.app_context():
        user = db.session.get(User, user_id) if isinstance(user_id, int) and user_id < 2**31 else None
        return user.session_key if user is not None else None


def _forged(app, user_id: int, **changes) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user_id), "type": "access", "fresh": False, "jti": "j", "iat": now,
              "nbf": now, "exp": now + dt.timedelta(minutes=5), "ses": _session_key(app, user_id)}
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


CASES = [
    ("missing", "missing_token"),
    ("malformed", "invalid_token"),
    ("not_bearer", "missing_token"),  # as on the REST routes (docs/api.md, "Errors")
    ("huge", "invalid_token"),
    ("wrong_key", "invalid_token"),
    ("alg_none", "invalid_token"),
    ("alg_none_unsigned", "invalid_token"),
    ("rs256", "invalid_token"),  # HS/RS confusion: an RSA-signed token where HS256 is expected
    ("hs256_public_key", "invalid_token"),  # ... or HMAC keyed with an RSA public key
    ("hs512_right_key", "invalid_token"),  # only HS256 is accepted, even with the right key
    ("expired", "token_expired"),
    ("not_yet_valid", "invalid_token"),
    ("refresh", "invalid_token"),
    ("tampered_sub", "invalid_token"),  # another user's id, the original signature
    ("no_sub", "invalid_token"),
    ("sub_not_a_number", "user_inactive"),  # a subject that names no user, as on REST
    ("sub_huge", "user_inactive"),
    ("deleted_user", "user_inactive"),
    ("user_deleted_after_login", "user_inactive"),
    ("user_disabled_after_login", "user_inactive"),
    ("bad_ticket", "invalid_ticket"),
    ("bearer_subprotocol_alone", "invalid_token"),
]
# Where the credential is presented: the WebSocket (header or subprotocol pair), SSE, /ticket.
ROUTES = ["ws", "ws_subprotocol", "sse", "ticket"]
_HEADER_ONLY = {"not_bearer", "missing"}  # a subprotocol has no scheme; "missing" is the same
_WS_ONLY = {"bearer_subprotocol_alone"}
_NOT_TICKET = {"bad_ticket"}  # /ticket takes a token, never a ticket


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_by_hand(claims: dict, key: bytes) -> str:
    """HS256 computed by hand: PyJWT refuses to use a PEM public key as an HMAC secret."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims, default=lambda d: int(d.timestamp())).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _claims(user_id: int | str) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {"sub": str(user_id), "type": "access", "fresh": False, "jti": "j", "iat": now, "nbf": now,
            "exp": now + dt.timedelta(minutes=5)}


def _token_for(case: str, app, live_server, api: Api, anna: dict) -> str | None:
    uid = anna["user"]["id"]
    if case == "huge":
        return "a" * 20000
    if case == "malformed":
        return "abc.def"
    if case == "wrong_key":
        return _forged(app, uid, key="k" * 48)
    if case == "alg_none":
        return _forged(app, uid, key=None, alg="none")
    if case == "alg_none_unsigned":  # "none" spelled otherwise, with the real signature left on
        real = anna["access_token"].split(".")
        return _b64(json.dumps({"alg": "nOnE", "typ": "JWT"}).encode()) + f".{real[1]}.{real[2]}"
    if case in ("rs256", "hs256_public_key"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if case == "rs256":
            return pyjwt.encode(_claims(uid), private, "RS256")
        public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        return _hs256_by_hand(_claims(uid), public)
    if case == "hs512_right_key":
        with warnings.catch_warnings():  # the test secret is short for HS512: irrelevant here
            warnings.simplefilter("ignore")
            return _forged(app, uid, alg="HS512")
    if case == "expired":
        return _forged(app, uid, exp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    if case == "not_yet_valid":
        return _forged(app, uid, nbf=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    if case == "refresh":
        return anna["refresh_token"]
    if case == "tampered_sub":
        other = api.register("boris")
        head, body, sig = anna["access_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["sub"] = str(other["user"]["id"])
        return f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"
    if case == "no_sub":
        claims = _claims(uid)
        del claims["sub"]
        return pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], "HS256")
    if case == "sub_not_a_number":
        return _forged(app, "abc")
    if case == "sub_huge":
        return _forged(app, "9" * 30)
    if case == "deleted_user":
        return _forged(app, 999_999)
    if case in ("user_deleted_after_login", "user_disabled_after_login"):
        doomed = api.register("doomed")
        admin = api.register_admin()
        if case == "user_deleted_after_login":
            api.call("DELETE", f"/admin/users/{doomed['user']['id']}", admin, expect=204)
        else:
            api.call("POST", f"/admin/users/{doomed['user']['id']}/disable", admin, expect=200)
        return doomed["access_token"]
    return None


def _present(live_server, api: Api, route: str, case: str, token: str | None) -> tuple[int, str]:
    """Present the credential of ``case`` on ``route``; return (status, error code)."""
    headers: dict[str, str] = {}
    if case == "not_bearer":
        headers["Authorization"] = "Token abc"
    elif token is not None and route != "ws_subprotocol" and case != "bearer_subprotocol_alone":
        headers["Authorization"] = f"Bearer {token}"
    query = "?ticket=" + "x" * 43 if case == "bad_ticket" else ""
    if route == "ticket":
        response = api.http.post(f"{api.base}/realtime/ticket", headers=headers, timeout=10)
        return response.status_code, response.json()["error"]["code"]
    if route == "sse":
        stream = SseStream(live_server, query=query, headers=headers)
        return stream.status, stream.response.json()["error"]["code"]
    subprotocols = None
    if case == "bearer_subprotocol_alone":
        subprotocols = [f"bearer.{token}"]
    elif route == "ws_subprotocol" and token is not None:
        subprotocols = ["itcook.v1", f"bearer.{token}"]
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, headers=headers, query=query, subprotocols=subprotocols)
    return _status_and_code(info.value)


def _applicable(route: str, case: str) -> bool:
    """Whether the credential form of ``case`` exists on ``route`` at all."""
    return not ((route == "ws_subprotocol" and case in _HEADER_ONLY) or (route != "ws" and case in _WS_ONLY)
                or (route == "ticket" and case in _NOT_TICKET))


@pytest.mark.parametrize("route, case, expected_code", [
    (route, case, code) for route in ROUTES for case, code in CASES if _applicable(route, case)])
def test_auth_failures_are_401_before_upgrade(live_server, case, expected_code, route) -> None:
    """Every forged, expired, misused or orphaned credential, on every route that takes one,
    is the same 401 and code: before any upgrade, counted, and nothing joins the hub."""
    app = live_server.app
    api = Api(live_server)
    anna = api.register("anna")
    token = _token_for(case, app, live_server, api, anna)
    if case == "bearer_subprotocol_alone":
        token = anna["access_token"]
    assert _present(live_server, api, route, case, token) == (401, expected_code)
    assert live_server.state.hub.connections == set()
    # Refusals of /ws and /sse are handshake failures; /ticket is a plain REST route.
    failures = dict(live_server.state.hub.stats.handshake_failures)
    assert failures == ({} if route == "ticket" else {expected_code: 1}), failures


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
    # Routing refused it before the plugin's view ran; it still counts as the plugin's refusal,
    # once. Other routes' errors are not the plugin's.
    assert dict(live_server.state.hub.stats.handshake_failures) == {"websocket_required": 1}
    assert api.call("GET", "/realtime/nowhere/ws", anna).status_code == 404
    assert dict(live_server.state.hub.stats.handshake_failures) == {"websocket_required": 1}
    sock, head = raw_handshake(live_server.port, headers={"Sec-WebSocket-Version": "8"})
    assert head.startswith("HTTP/1.1 400")
    sock.close()


def test_user_disabled_after_connecting_is_disconnected(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    admin = api.register_admin()
    client = ws_connect(live_server, anna["access_token"])
    api.call("POST", f"/admin/users/{anna['user']['id']}/disable", admin, expect=200)
    with pytest.raises(ConnectionClosed) as info:
        client.recv(timeout=5)
    assert info.value.code == 4003
    wait_for(lambda: not live_server.state.hub.connections, what="hub to empty")
    assert live_server.state.hub.stats.disconnects["user_revoked"] == 1


def test_a_remembered_token_still_expires_and_still_needs_an_active_user(live_server) -> None:
    """A verified token is remembered (a reconnect skips the signature check) only until its exp."""
    api = Api(live_server)
    anna = api.register("anna")
    verified = live_server.state.verified_tokens
    # A whole second (JWT times are), over one second away: one that is about to expire is
    # not remembered at all.
    exp = dt.datetime.fromtimestamp(int(dt.datetime.now(dt.UTC).timestamp()) + 3, dt.UTC)
    token = _forged(live_server.app, anna["user"]["id"], exp=exp)
    ws_connect(live_server, token).close()
    assert verified._cache.get(token) is not None  # remembered
    wait_for(lambda: dt.datetime.now(dt.UTC) > exp + dt.timedelta(seconds=0.1), timeout=6,
             what="the token's expiry")
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, token)
    assert _status_and_code(info.value) == (401, "token_expired")
    # Remembered or not, the user is looked up on every handshake: disabled means refused.
    token = anna["access_token"]
    ws_connect(live_server, token).close()
    assert verified._cache.get(token) is not None
    with live_server.app.app_context():
        from itcook.extensions import db
        from itcook.models import User

        db.session.get(User, anna["user"]["id"]).is_active = False
        db.session.commit()
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, token)
    assert _status_and_code(info.value) == (401, "user_inactive")
    # What failed verification is never remembered.
    forged = _forged(live_server.app, anna["user"]["id"], key="another-key-of-32-bytes-or-more!!")
    for _ in range(2):
        with pytest.raises(HandshakeRefused):
            ws_connect(live_server, forged)
    assert verified._cache.get(forged) is None


def test_a_process_shutting_down_refuses_new_streams(live_server) -> None:
    """After its streams were closed with 1001, a reconnect that still reaches this process is
    refused (503) instead of getting a stream that nothing would close."""
    anna = Api(live_server).register("anna")
    client = ws_connect(live_server, anna["access_token"])
    live_server.state.shutdown()
    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=5)
    assert closed.value.code == 1001
    with pytest.raises(HandshakeRefused) as info:
        ws_connect(live_server, anna["access_token"])
    assert _status_and_code(info.value) == (503, "shutting_down")
    stream = SseStream(live_server, anna["access_token"])
    assert stream.status == 503 and stream.response.json()["error"]["code"] == "shutting_down"
    assert live_server.state.hub.stats.handshake_failures["shutting_down"] == 2
    assert not live_server.state.hub.connections


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_database_failure_while_admitting_is_json_500_and_the_pool_recovers(live_server, transport) -> None:
    """The user check runs on the pool's raw connection: a failing query is still the API's
    ``500 database_error`` (not ``internal_error``), nobody joins, and the next handshake works."""
    from sqlalchemy import text

    from itcook.extensions import db

    api = Api(live_server)
    anna = api.register("anna")

    def rename(old: str, new: str) -> None:
        with live_server.app.app_context():
            db.session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
            db.session.commit()

    rename("users", "users_away")
    try:
        if transport == "sse":
            response = api.call("GET", "/realtime/sse", anna, stream=True)
            status, body = response.status_code, response.json()
            response.close()
        else:
            with pytest.raises(HandshakeRefused) as info:
                ws_connect(live_server, anna["access_token"])
            status, body = info.value.status, json.loads(info.value.body)
    finally:
        rename("users_away", "users")
    assert (status, body["error"]["code"]) == (500, "database_error"), body
    assert live_server.state.hub.connections == set()
    ws_connect(live_server, anna["access_token"]).close()
    SseStream(live_server, anna["access_token"]).close()


@pytest.mark.realtime_config(REALTIME_MAX_TICKETS_PER_USER=4)
def test_a_burst_of_ticket_requests_keeps_the_per_user_limit(live_server) -> None:
    api = Api(live_server)
    anna, bob = api.register("anna"), api.register("bob")
    answers = concurrently(16, lambda i: requests.post(
        f"{api.base}/realtime/ticket", headers=anna["headers"], timeout=30))
    assert sorted(r.status_code for r in answers) == [201] * 4 + [429] * 12
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 429} == {"too_many_tickets"}
    api.call("POST", "/realtime/ticket", bob, expect=201)  # per user
    # A used ticket no longer counts.
    ticket = next(r.json()["ticket"] for r in answers if r.status_code == 201)
    ws_connect(live_server, query=f"?ticket={ticket}").close()
    api.call("POST", "/realtime/ticket", anna, expect=201)
    api.call("POST", "/realtime/ticket", anna, expect=429)
