"""The client protocol: subscriptions, every malformed frame's code, limits, liveness, typing."""

from __future__ import annotations

import gc
import os
import struct

import pytest
from greenlet import greenlet

from tests.support.frames import raw_handshake
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ConnectionClosed, ws_connect


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


@pytest.fixture
def post(api) -> dict:
    author = api.register("author")
    return api.call("POST", "/community/posts", author, expect=201, json={"content": "Soup"}).json()


def _closed_code(client, timeout: float = 5.0) -> int:
    code = client.closed_code(timeout)
    assert code is not None, "the server closed without a close frame"
    return code


def test_default_channels_then_subscribe_and_unsubscribe(live_server, api, post) -> None:
    anna = api.register("anna")
    client = ws_connect(live_server, anna["access_token"])
    conn = next(iter(live_server.state.hub.connections))
    assert conn.channels == {f"user:{anna['user']['id']}", "community", "system"}
    ack = client.subscribe(f"post:{post['id']}")
    assert ack["data"] == {"channels": [f"post:{post['id']}"]} and "id" not in ack
    client.send({"type": "Unsubscribe", "channels": ["community", f"post:{post['id']}"]})
    assert client.recv_type("Unsubscribed")["data"]["channels"] == ["community", f"post:{post['id']}"]
    assert conn.channels == {f"user:{anna['user']['id']}", "system"}
    client.close()


@pytest.mark.parametrize("channel, code", [
    ("post:999999", "channel_not_found"),
    ("post:2147483648", "channel_not_found"),  # past every key (PostgreSQL cannot even bind it)
    ("group:2147483648", "forbidden_channel"),
    ("personal:999", "forbidden_channel"),
    ("user:999", "forbidden_channel"),
    ("nonsense", "unknown_channel"),
    ("group:1", "forbidden_channel"),  # no such group, and so not a member
    ("club:1", "unknown_channel"),
    ("post:abc", "unknown_channel"),
])
def test_forbidden_and_unknown_channels_get_error(live_server, api, channel, code) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    client.send({"type": "Subscribe", "channels": [channel]})
    error = client.recv()
    assert error["type"] == "Error" and error["data"]["code"] == code
    client.assert_silent(0.2)  # no Subscribed for a refused channel
    client.close()


@pytest.mark.parametrize("frame, code", [
    ("not json", "invalid_json"),
    ("[1,2]", "invalid_frame"),
    ('{"channels": []}', "missing_field"),
    ('{"type": 5}', "invalid_field"),
    ('{"type": "Explode"}', "unknown_type"),
    ('{"type": "Subscribe"}', "missing_field"),
    ('{"type": "Subscribe", "channels": "community"}', "invalid_field"),
    ('{"type": "Subscribe", "channels": []}', "invalid_field"),
    ('{"type": "Subscribe", "channels": [5]}', "invalid_field"),
    ('{"type": "TypingStart"}', "missing_field"),
    ('{"type": "TypingStart", "post_id": "7"}', "invalid_field"),
    ('{"type": "TypingStart", "post_id": true}', "invalid_field"),
    ('{"type": "TypingStart", "post_id": 99999999999999999999999}', "invalid_field"),
    ('{"type": "TypingStart", "post_id": 424242}', "channel_not_found"),
    (b"\x00\x01binary", "binary_not_supported"),
    ("[" * 100000 + "]" * 100000, "message_too_big"),
])
def test_each_malformed_frame_gets_its_error_code(live_server, api, frame, code) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    other = ws_connect(live_server, api.register("other")["access_token"])
    client.send(frame)
    error = client.recv()
    assert error["type"] == "Error" and error["data"]["code"] == code, error
    assert live_server.state.hub.stats.errors[code] == 1
    if code != "message_too_big":
        client.send({"type": "Heartbeat"})  # the connection survives a single bad frame
        client.assert_silent(0.1)
    other.send({"type": "Subscribe", "channels": ["community"]})
    assert other.recv()["type"] == "Subscribed"  # nobody else is disturbed
    client.close()
    other.close()


@pytest.mark.realtime_config(REALTIME_MAX_MESSAGE_BYTES=1000)
def test_oversized_frame_closes_with_1009(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    client.send("x" * 5000)
    assert client.recv()["data"]["code"] == "message_too_big"
    assert _closed_code(client) == 1009
    wait_for(lambda: not live_server.state.hub.connections, what="hub to empty")


@pytest.mark.realtime_config(REALTIME_RATE=5.0, REALTIME_BURST=5, REALTIME_MAX_VIOLATIONS=3)
def test_flood_is_answered_then_policy_closed(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    bystander = ws_connect(live_server, api.register("bob")["access_token"])
    for _ in range(20):
        try:
            client.send({"type": "Heartbeat"})
        except ConnectionClosed:
            break
    errors = []
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(50):
            errors.append(client.recv())
    assert info.value.code == 1008
    assert [e["data"]["code"] for e in errors] == ["rate_limited"] * 3
    assert live_server.state.hub.stats.disconnects["policy_violation"] == 1
    bystander.subscribe("community")
    bystander.close()


@pytest.mark.realtime_config(REALTIME_MAX_VIOLATIONS=3)
def test_repeated_garbage_is_policy_closed(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    for _ in range(3):
        client.send("garbage")
    codes = [client.recv()["data"]["code"] for _ in range(3)]
    assert codes == ["invalid_json"] * 3
    assert _closed_code(client) == 1008


@pytest.mark.realtime_config(REALTIME_MAX_SUBSCRIPTIONS=4)
def test_subscription_cap(live_server, api) -> None:
    author = api.register("author")
    ids = [api.call("POST", "/community/posts", author, expect=201, json={"content": f"p{i}"}).json()["id"]
           for i in range(2)]
    client = ws_connect(live_server, author["access_token"])
    client.send({"type": "Subscribe", "channels": [f"post:{i}" for i in ids]})
    frames = [client.recv_type("Error"), client.recv_type("Subscribed")]
    assert frames[0]["data"]["code"] == "too_many_subscriptions"
    assert frames[1]["data"]["channels"] == [f"post:{ids[0]}"]
    client.close()


@pytest.mark.realtime_config(REALTIME_HEARTBEAT_INTERVAL=0.1)
def test_server_sends_heartbeats(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    import json

    frames = [json.loads(client.recv_raw(timeout=2)) for _ in range(2)]
    assert [f["type"] for f in frames] == ["Heartbeat", "Heartbeat"]
    assert frames[0]["data"]["ts"].endswith("Z") and "id" not in frames[0]
    client.close()


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _greenlet_count() -> int:
    count = 0
    for obj in gc.get_objects():
        try:
            count += isinstance(obj, greenlet) and not obj.dead
        except ReferenceError:  # a dead weak proxy
            pass
    return count


@pytest.mark.realtime_config(REALTIME_HEARTBEAT_INTERVAL=10.0, REALTIME_IDLE_TIMEOUT=0.4)
def test_idle_connection_is_closed_and_freed(live_server, api) -> None:
    token = api.register("anna")["access_token"]
    live_server.state.ensure_started()
    warm = ws_connect(live_server, token)  # warm up lazily created pools before counting
    warm.send({"type": "Heartbeat"})
    warm.close()
    wait_for(lambda: not live_server.state.hub.connections, what="warm-up to leave")
    fds, greenlets = _fd_count(), _greenlet_count()
    sock, head = raw_handshake(live_server.port, headers={"Authorization": f"Bearer {token}"})
    assert head.startswith("HTTP/1.1 101")
    wait_for(lambda: len(live_server.state.hub.connections) == 1, what="connection")
    data = b""
    while True:  # the server closes a silent client with 4001, then the TCP connection
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert data[0] == 0x88 and struct.unpack("!H", data[2:4])[0] == 4001
    assert data[4:2 + data[1]] == b"idle_timeout"
    sock.close()
    wait_for(lambda: not live_server.state.hub.connections and not live_server.state.hub.channels,
             what="hub to empty")
    assert live_server.state.hub.stats.disconnects["idle_timeout"] == 1
    wait_for(lambda: _fd_count() <= fds, what="server sockets to close")
    wait_for(lambda: _greenlet_count() <= greenlets, what="session greenlets to finish")


def test_client_close_is_echoed_and_tcp_closed(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    assert client.close(code=1000, reason="bye") == 1000  # the code the server echoed back
    wait_for(lambda: not live_server.state.hub.connections, what="hub to empty")
    assert live_server.state.hub.stats.disconnects["normal"] == 1


def test_ping_gets_pong(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    client.ping(b"hi")
    client.send({"type": "Subscribe", "channels": ["community"]})
    client.recv_type("Subscribed")  # the pong came before this answer
    assert client.pongs == [b"hi"]
    client.close()


@pytest.mark.realtime_config(REALTIME_TYPING_THROTTLE=30.0, REALTIME_TYPING_TIMEOUT=0.3)
def test_typing_is_relayed_throttled_not_echoed_and_expires(live_server, api, post) -> None:
    typer = api.register("typer")
    watcher = api.register("watcher")
    a = ws_connect(live_server, typer["access_token"])
    b = ws_connect(live_server, watcher["access_token"])
    for client in (a, b):
        client.subscribe(f"post:{post['id']}")
    a.send({"type": "TypingStart", "post_id": post["id"]})
    seen = b.recv()
    assert seen["type"] == "UserTyping" and seen["channel"] == f"post:{post['id']}" and "id" not in seen
    assert seen["data"] == {"post_id": post["id"], "user_id": typer["user"]["id"],
                            "user_name": "typer", "typing": True}
    a.send({"type": "TypingStart", "post_id": post["id"]})  # throttled: no second announcement
    a.send({"type": "TypingStop", "post_id": post["id"]})
    stop = b.recv()
    assert stop["type"] == "UserTyping" and stop["data"]["typing"] is False
    a.send({"type": "TypingStart", "post_id": post["id"]})  # never stopped: expires by itself
    assert b.recv()["data"]["typing"] is True
    assert b.recv(timeout=3)["data"]["typing"] is False
    assert len(live_server.state.typing) == 0
    a.assert_silent(0.1)  # the typer never hears itself
    a.close()
    b.close()


def test_typing_state_ends_when_typer_disconnects(live_server, api, post) -> None:
    a = ws_connect(live_server, api.register("typer")["access_token"])
    b = ws_connect(live_server, api.register("watcher")["access_token"])
    b.subscribe(f"post:{post['id']}")
    a.send({"type": "TypingStart", "post_id": post["id"]})
    assert b.recv()["data"]["typing"] is True
    a.close()
    assert b.recv()["data"]["typing"] is False
    b.close()
