"""Raw protocol abuse on the socket: bad handshakes, half-open and slowloris connections, a flood.

Each case ends the way docs/realtime-protocol.md says (an HTTP status with the JSON error body, a close),
the server keeps serving (a normal client connects and receives an event meanwhile), and
what the plugin saw is counted in /stats.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import gevent
import pytest

from tests.support.frames import raw_handshake, socket_closed_by_peer
from tests.support.sse import SseStream
from tests.support.stats import StatsProbe
from tests.support.waiting import wait_for
from tests.support.ws import HandshakeRefused, ws_connect

WS = "/api/v1/realtime/ws"
SSE = "/api/v1/realtime/sse"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def _exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection, return everything until the server closes it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and _complete(out):
                break
        return out
    finally:
        sock.close()


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _status_and_code(response: bytes) -> tuple[int, str | None]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)["error"]["code"]
    except ValueError:
        return status, None


def _upgrade(port: int, token: str, **overrides: str | None) -> bytes:
    headers = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13",
               "Authorization": f"Bearer {token}"}
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    lines = [f"GET {WS} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


BAD_HANDSHAKES = [
    ({"Sec-WebSocket-Key": None}, 400, "bad_handshake"),
    ({"Sec-WebSocket-Key": ""}, 400, "bad_handshake"),
    ({"Sec-WebSocket-Key": "abc"}, 400, "bad_handshake"),  # not base64 of 16 bytes (RFC 6455 §4.2.1)
    ({"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 400, "bad_handshake"),  # 24 bytes
    ({"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}, 400, "bad_handshake"),
    ({"Sec-WebSocket-Version": None}, 400, "bad_handshake"),
    ({"Sec-WebSocket-Version": "8"}, 400, "bad_handshake"),
    ({"Sec-WebSocket-Version": "13, 8"}, 400, "bad_handshake"),
    ({"Upgrade": None}, 400, "websocket_required"),
    ({"Connection": "keep-alive"}, 400, "websocket_required"),
    ({"Upgrade": "h2c"}, 400, "websocket_required"),
]


def test_bad_websocket_handshakes_get_json_400(live_server, api, bystander, observer) -> None:
    token = api.register("attacker")["access_token"]
    for overrides, status, code in BAD_HANDSHAKES:
        probe = StatsProbe(api, observer)
        response = _exchange(live_server.port, _upgrade(live_server.port, token, **overrides))
        assert _status_and_code(response) == (status, code), (overrides, response[:300])
        assert b"\r\nContent-Type: application/json" in response, overrides
        assert len(live_server.state.hub.connections) == 1, overrides  # only the bystander
        assert probe.delta()["handshake_failures_by_reason"] == {code: 1}, overrides
    bystander.assert_unaffected()


GARBAGE = [
    (b"HELLO\r\n\r\n", 400),
    (b"GET\r\n\r\n", 400),
    (b"GET " + WS.encode() + b" HTTP/9.9\r\n\r\n", 400),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET " + WS.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET " + WS.encode() + b" HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n", 400),  # a TLS hello
]


def test_garbage_requests_are_refused_by_the_http_layer(live_server, bystander) -> None:
    """Not HTTP at all: gevent's server answers (plain text, before the app), counts it, goes on."""
    failures = live_server.state.hub.stats.handshake_failures
    before = failures["malformed_request"]
    for raw, status in GARBAGE:
        response = _exchange(live_server.port, raw)
        assert response.startswith(b"HTTP/1.1 %d" % status), (raw[:40], response[:200])
    assert failures["malformed_request"] - before == len(GARBAGE)
    bystander.assert_unaffected()


def test_half_closed_websocket_is_freed(live_server, api, bystander, observer) -> None:
    """A client that shuts its sending side right after the handshake: the server frees it."""
    token = api.register("attacker")["access_token"]
    probe = StatsProbe(api, observer)
    sock, head = raw_handshake(live_server.port, headers={"Authorization": f"Bearer {token}"})
    assert head.startswith("HTTP/1.1 101")
    wait_for(lambda: len(live_server.state.hub.connections) == 2, what="the attacker's connection")
    sock.shutdown(socket.SHUT_WR)
    assert socket_closed_by_peer(sock, 5), "the server kept a half-closed WebSocket open"
    sock.close()
    wait_for(lambda: len(live_server.state.hub.connections) == 1, what="the hub to forget it")
    assert probe.delta()["disconnects_by_reason"] == {"connection_lost": 1}
    bystander.assert_unaffected()


def test_half_closed_sse_stream_is_freed(live_server, api, bystander, observer) -> None:
    token = api.register("attacker")["access_token"]
    probe = StatsProbe(api, observer)
    sock, head = raw_handshake(live_server.port, SSE, headers={"Authorization": f"Bearer {token}",
                                                                "Upgrade": "none"})
    assert head.startswith("HTTP/1.1 200")
    wait_for(lambda: len(live_server.state.hub.connections) == 2, what="the attacker's stream")
    sock.shutdown(socket.SHUT_WR)
    assert socket_closed_by_peer(sock, 5), "the server kept a half-closed SSE stream open"
    sock.close()
    wait_for(lambda: len(live_server.state.hub.connections) == 1, what="the hub to forget it")
    assert sum(probe.delta()["disconnects_by_reason"].values()) == 1
    bystander.assert_unaffected()


def _dribble(sock: socket.socket, data: bytes, pace: float, sent: list[int]) -> None:
    """The attacker: one byte every ``pace`` seconds until the server hangs up."""
    for byte in data:
        try:
            sock.send(bytes([byte]))
        except OSError:
            return
        sent[0] += 1
        gevent.sleep(pace)


@pytest.mark.realtime_config(HTTP_HEADER_TIMEOUT=0.5)
@pytest.mark.parametrize("path", [WS, SSE])
def test_slowloris_head_is_cut_off_and_blocks_no_one(live_server, api, bystander, path) -> None:
    """A request head dribbled byte by byte: others connect and get events meanwhile, and the
    server ends the slow one after HTTP_HEADER_TIMEOUT (408), however long the client goes on."""
    token = api.register("attacker")["access_token"]
    request = _upgrade(live_server.port, token) if path == WS else (
        f"GET {SSE} HTTP/1.1\r\nHost: 127.0.0.1:{live_server.port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", live_server.port), timeout=5)
    line_end = request.index(b"\r\n") + 2
    sock.sendall(request[:line_end])  # the request line at once, then the headers byte by byte
    sent = [line_end]
    attacker = gevent.spawn(_dribble, sock, request[line_end:], 0.02, sent)
    try:
        # Meanwhile a normal client of each transport connects and receives an event.
        other = api.register("normal")
        ws = ws_connect(live_server, other["access_token"])
        stream = SseStream(live_server, other["access_token"])
        wait_for(lambda: len(live_server.state.hub.connections) == 3, what="the normal clients")
        assert sent[0] < len(request), "the head was complete before the normal clients connected"
        bystander.assert_unaffected()
        post = api.call("POST", "/community/posts", other, expect=201, json={"content": "hi"}).json()
        assert ws.recv_type("NewCommunityPost")["data"]["post_id"] == post["id"]
        for _ in range(10):  # the bystander's notification came first
            event = stream.next()
            if event["event"] == "NewCommunityPost":
                break
        assert event["frame"]["data"]["post_id"] == post["id"]
        ws.close()
        stream.close()
        # The slow head is cut off: a 408, long before the whole request could have arrived.
        response = b""
        sock.settimeout(5)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
        assert response.startswith(b"HTTP/1.1 408"), response[:200]
        assert sent[0] < len(request), "the server waited for the whole head"
        assert live_server.state.hub.stats.handshake_failures["header_timeout"] >= 1
    finally:
        attacker.kill()
        sock.close()


@pytest.mark.realtime_config(HTTP_HEADER_TIMEOUT=0.5)
def test_silent_connection_is_closed_after_the_header_timeout(live_server, bystander) -> None:
    """Connect and send nothing (or stay on an idle keep-alive connection): closed, no answer."""
    sock = socket.create_connection(("127.0.0.1", live_server.port), timeout=5)
    assert socket_closed_by_peer(sock, 5), "a silent connection is held forever"
    sock.close()
    bystander.assert_unaffected()


@pytest.mark.realtime_config(REALTIME_MAX_CONNECTIONS_PER_USER=3)
def test_connection_flood_past_the_cap_is_refused_429(live_server, api, bystander, observer) -> None:
    """Twelve simultaneous handshakes of one user, both transports: exactly the cap gets in."""
    attacker = api.register("attacker")
    post = api.call("POST", "/community/posts", attacker, expect=201, json={"content": "p"}).json()
    probe = StatsProbe(api, observer)
    # A post channel makes admission ask the database after the cap check, as a real client may;
    # the question takes time, as a database round trip does (SQLite's never yield at all).
    authorize, denied, key = live_server.state.authorizers["post"]

    def slow_authorize(user_id: int, post_id: int) -> bool:
        gevent.sleep(0.01)
        return authorize(user_id, post_id)

    live_server.state.authorizers["post"] = (slow_authorize, denied, key)
    query = f"?channels=personal,post:{post['id']}"
    results: list[Any] = []

    def attempt(index: int) -> None:
        if index % 2:
            stream = SseStream(live_server, attacker["access_token"], query=query)
            results.append(("sse", stream.status, stream))
            return
        try:
            results.append(("ws", 101, ws_connect(live_server, attacker["access_token"], query=query)))
        except HandshakeRefused as exc:
            results.append(("ws", exc.status, exc))

    gevent.joinall([gevent.spawn(attempt, i) for i in range(12)], timeout=20, raise_error=True)
    assert len(results) == 12
    accepted = [r for r in results if r[1] in (101, 200)]
    refused = [r for r in results if r[1] not in (101, 200)]
    assert len(accepted) == 3, [r[:2] for r in results]
    for kind, status, item in refused:
        assert status == 429
        code = item.code if kind == "ws" else item.response.json()["error"]["code"]
        assert code == "too_many_connections"
    assert live_server.state.hub.user_connection_count(attacker["user"]["id"]) == 3
    assert probe.delta()["handshake_failures_by_reason"] == {"too_many_connections": 9}
    assert not live_server.state.hub.admitting  # no reservation outlives its handshake
    for _kind, _status, item in accepted:
        item.close()
    wait_for(lambda: live_server.state.hub.user_connection_count(attacker["user"]["id"]) == 0,
             what="the attacker's streams to end")
    ws_connect(live_server, attacker["access_token"], query=query).close()  # the slots are free again
    assert not live_server.state.hub.admitting
    bystander.assert_unaffected()
