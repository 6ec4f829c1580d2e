"""The SSE fallback with a real streaming client: headers, framing, keep-alives, auth, parameters."""

from __future__ import annotations

import pytest

from tests.support.frames import raw_handshake
from tests.support.rest import Api
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


def test_headers_framing_and_same_frame_as_websocket(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    stream = SseStream(live_server, anna["access_token"])
    ws = ws_connect(live_server, anna["access_token"])
    headers = stream.response.headers
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["X-Accel-Buffering"] == "no"
    assert "no-cache" in headers["Cache-Control"]
    wait_for(lambda: len(live_server.state.hub.connections) == 2, what="both streams")
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "Kvass"})
    event = stream.next()
    assert event["event"] == "NewCommunityPost" and event["id"] == event["frame"]["id"]
    assert event["frame"] == ws.recv()  # the very same JSON object as the WebSocket frame
    stats = api.call("GET", "/realtime/stats", anna, expect=200).json()
    assert stats["connections_by_transport"] == {"websocket": 1, "sse": 1}
    stream.close()
    ws.close()
    wait_for(lambda: not live_server.state.hub.connections, what="streams to close")


@pytest.mark.realtime_config(REALTIME_SSE_KEEPALIVE_INTERVAL=0.1, REALTIME_SSE_RETRY_MS=1234)
def test_retry_hint_and_keepalive_comments(live_server) -> None:
    token = Api(live_server).register("anna")["access_token"]
    sock, head = raw_handshake(live_server.port, path="/api/v1/realtime/sse",
                               headers={"Authorization": f"Bearer {token}", "Upgrade": "none"})
    assert head.startswith("HTTP/1.1 200") and "X-Accel-Buffering: no" in head
    body = b""
    while body.count(b": keep-alive\n\n") < 2:
        chunk = sock.recv(4096)
        assert chunk, "stream ended"
        body += chunk
    assert body.startswith(b"retry: 1234\n\n")
    sock.close()


@pytest.mark.parametrize("headers, query, status, code", [
    ({}, "", 401, "missing_token"),
    ({"Authorization": "Bearer nope"}, "", 401, "invalid_token"),
    ({}, "?ticket=" + "t" * 40, 401, "invalid_ticket"),
    ({"Origin": "https://evil.example"}, "", 403, "origin_not_allowed"),
    ({"Last-Event-ID": "abc"}, "", 400, "invalid_last_event_id"),
    ({}, "?last_event_id=-5", 400, "invalid_last_event_id"),
    ({}, "?last_event_id=99999999999999999999999", 400, "invalid_last_event_id"),
    ({}, "?channels=personal:999", 403, "forbidden_channel"),
    ({}, "?channels=bogus", 400, "unknown_channel"),
    ({}, "?channels=,,", 400, "invalid_channels"),
])
def test_refusals_before_the_stream_starts(live_server, headers, query, status, code) -> None:
    token = Api(live_server).register("anna")["access_token"]
    if "Authorization" not in headers and code not in ("missing_token", "invalid_ticket"):
        headers = {**headers, "Authorization": f"Bearer {token}"}
    stream = SseStream(live_server, query=query, headers=headers)
    assert stream.status == status
    assert stream.response.headers["Content-Type"] == "application/json"
    assert stream.response.json()["error"]["code"] == code
    assert live_server.state.hub.connections == set()


def test_ticket_and_channel_choice(live_server) -> None:
    api = Api(live_server)
    anna, bob = api.register("anna"), api.register("bob")
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    stream = SseStream(live_server, query=f"?ticket={ticket}&channels=personal")
    wait_for(lambda: live_server.state.hub.connections, what="stream")
    post = api.call("POST", "/community/posts", anna, expect=201, json={"content": "Only mine"}).json()
    api.call("POST", f"/community/posts/{post['id']}/like", bob, expect=201)
    event = stream.next()  # the community post is not on this stream's channels
    assert event["event"] == "PostLiked" and event["frame"]["channel"] == "personal"
    stream.close()


def test_a_gone_post_channel_is_dropped_not_refused(live_server) -> None:
    """A channel that is gone (or no longer open to the user) opens the stream without it."""
    anna = Api(live_server).register("anna")
    stream = SseStream(live_server, anna["access_token"], query="?channels=personal,post:424242")
    assert stream.status == 200
    first = stream.next()
    assert first["event"] == "Unsubscribed" and first["id"] is None
    assert first["frame"]["data"] == {"channels": ["post:424242"], "reason": "channel_not_found"}
    wait_for(lambda: live_server.state.hub.connections, what="stream")
    conn = next(iter(live_server.state.hub.connections))
    assert conn.channels == {f"user:{anna['user']['id']}"}
    stream.close()
