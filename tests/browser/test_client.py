"""itcook-realtime.js in Chromium: WebSocket, fallback to EventSource and back, resume, heartbeats."""

from __future__ import annotations

from typing import Any

import pytest
from gevent.pywsgi import WSGIServer

from itcook import create_app
from tests.support.browser import HARNESS, WAIT_MS, open_harness, start_client, wait_frames, wait_open
from tests.support.rest import Api
from tests.support.servers import LiveServer
from tests.support.waiting import wait_for


def _post(api: Api, user: dict[str, Any], content: str) -> int:
    return api.call("POST", "/community/posts", user, expect=201, json={"content": content}).json()["id"]


def test_websocket_receives_events_caused_through_rest(live_server, new_page) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    page = new_page()
    open_harness(page, live_server)
    start_client(page, anna["access_token"])
    wait_open(page, "websocket")
    assert live_server.state.hub.snapshot()["connections_by_transport"] == {"websocket": 1, "sse": 0}

    post_id = _post(api, anna, "Borscht tonight")
    api.call("POST", f"/community/posts/{post_id}/like", boris, expect=201)
    api.call("POST", f"/community/posts/{post_id}/comments", boris, expect=201, json={"content": "Yum"})

    [post] = wait_frames(page, "NewCommunityPost")
    [like] = wait_frames(page, "PostLiked")
    [comment] = wait_frames(page, "NewComment")
    assert post["data"] == {"post_id": post_id, "author_id": anna["user"]["id"], "author_name": "anna",
                            "content": "Borscht tonight"}
    assert like["channel"] == "personal" and like["data"]["user_name"] == "boris"
    assert comment["data"]["content"] == "Yum"
    assert post["id"] < like["id"] < comment["id"]
    assert page.evaluate("client.lastEventId") == comment["id"]


def test_without_websocket_it_uses_event_source_and_follows_new_channels(live_server, new_page) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    page = new_page(init_script="delete window.WebSocket;")
    open_harness(page, live_server)
    start_client(page, anna["access_token"])
    wait_open(page, "sse")
    hub = live_server.state.hub
    assert hub.snapshot()["connections_by_transport"] == {"websocket": 0, "sse": 1}

    post_id = _post(api, boris, "Pelmeni")
    [post] = wait_frames(page, "NewCommunityPost")
    assert post["data"]["post_id"] == post_id

    # EventSource picks channels in its URL: subscribing opens a new stream, then drops the old.
    page.evaluate("(id) => client.subscribe(['post:' + id])", post_id)
    wait_for(lambda: any(f"post:{post_id}" in c.channels for c in hub.connections), what="post channel")
    wait_for(lambda: len(hub.connections) == 1, what="the old stream to close")
    api.call("POST", f"/community/posts/{post_id}/comments", api.register("carol"), expect=201,
             json={"content": "on the post channel only"})
    [comment] = wait_frames(page, "NewComment")
    assert comment["channel"] == f"post:{post_id}"
    assert page.evaluate("client.transport") == "sse" and page.evaluate("client.reconnects") == 0


BLOCK_WEBSOCKET = """
window.wsAttempts = 0;
window.blockWebSocket = true;
const RealWebSocket = window.WebSocket;
// A proxy that refuses upgrades: while blocked, every WebSocket goes to a path that answers 404.
window.WebSocket = function (url, protocols) {
  window.wsAttempts++;
  if (window.blockWebSocket) url = url.replace('/realtime/ws', '/realtime/blocked');
  return protocols === undefined ? new RealWebSocket(url) : new RealWebSocket(url, protocols);
};
window.WebSocket.prototype = RealWebSocket.prototype;
Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""


def test_blocked_websocket_falls_back_to_sse_then_returns_without_gap(live_server, new_page) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    page = new_page(init_script=BLOCK_WEBSOCKET)
    open_harness(page, live_server)
    start_client(page, anna["access_token"], fallbackAfter=2, retryWebSocketAfter=1500)
    wait_open(page, "sse")
    assert page.evaluate("wsAttempts") == 2  # fallbackAfter failures, then EventSource
    _post(api, boris, "over SSE")
    wait_frames(page, "NewCommunityPost", 1)

    page.evaluate("blockWebSocket = false")  # the proxy lets WebSocket through again
    wait_open(page, "websocket")
    hub = live_server.state.hub
    wait_for(lambda: hub.snapshot()["connections_by_transport"] == {"websocket": 1, "sse": 0},
             what="the SSE stream to be replaced")
    _post(api, boris, "over WebSocket")
    frames = wait_frames(page, "NewCommunityPost", 2)
    assert [f["data"]["content"] for f in frames] == ["over SSE", "over WebSocket"]
    assert page.evaluate("client.reconnects") == 0  # a switch, not a reconnect


class PortServer(LiveServer):
    """``LiveServer`` on a chosen port: the same address after a restart."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.server = WSGIServer(("127.0.0.1", port), app, log=None)
        self.server.start()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"


def test_server_restart_page_resumes_with_every_missed_event_once(app, app_config, new_page) -> None:
    first = PortServer(app, 0)
    second: PortServer | None = None
    second_app = None
    try:
        api = Api(first)
        anna, boris = api.register("anna"), api.register("boris")
        page = new_page()
        open_harness(page, first)
        start_client(page, anna["access_token"])
        wait_open(page, "websocket")
        anna_post = _post(api, anna, "before the restart")
        wait_frames(page, "NewCommunityPost", 1)

        first.stop()  # closes streams with 1001, then stops listening
        page.wait_for_function("client.state === 'reconnecting'", timeout=WAIT_MS)

        # While nothing listens, the new process's REST layer publishes (same database, new state).
        second_app = create_app(app_config)
        rest = second_app.test_client()
        boris_headers = boris["headers"]
        missed = [rest.post("/api/v1/community/posts", headers=boris_headers,
                            json={"content": f"while away {n}"}).get_json()["id"] for n in range(3)]
        liked = rest.post(f"/api/v1/community/posts/{anna_post}/like", headers=boris_headers)
        assert liked.status_code == 201

        second = PortServer(second_app, first.port)
        wait_frames(page, "NewCommunityPost", 4)
        [like] = wait_frames(page, "PostLiked")
        [recovery] = wait_frames(page, "Recovery")
        assert recovery["data"]["recovered"] is True and recovery["data"]["replayed"] == 4
        _post(Api(second), boris, "after the restart")
        posts = wait_frames(page, "NewCommunityPost", 5)
        assert [f["data"]["post_id"] for f in posts[1:4]] == missed
        assert [f["data"]["content"] for f in posts][-1] == "after the restart"
        ids = page.evaluate("ids().filter((id) => id != null)")
        assert ids == sorted(set(ids)), f"duplicate or out-of-order ids: {ids}"
        assert like["data"]["post_id"] == anna_post
        assert page.evaluate("client.reconnects") == 1
    finally:
        if second is not None:
            second.stop()
        if second_app is not None:
            with second_app.app_context():
                from itcook.extensions import db

                db.engine.dispose()
        first.server.stop(timeout=1)


def test_offline_pauses_and_online_resumes_with_what_was_missed(live_server, new_page) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    page = new_page()
    open_harness(page, live_server)
    start_client(page, anna["access_token"])
    wait_open(page, "websocket")
    _post(api, boris, "seen")
    wait_frames(page, "NewCommunityPost", 1)

    page.context.set_offline(True)  # the browser says offline: no retries, the socket is let go
    page.wait_for_function("client.state === 'reconnecting' && log.states.at(-1).reason === 'offline'")
    hub = live_server.state.hub
    wait_for(lambda: not hub.connections, what="the server to see the socket go")
    missed = [_post(api, boris, f"missed {n}") for n in range(2)]
    assert page.evaluate("client._timer") is None  # paused, not counting down

    page.context.set_offline(False)
    wait_open(page, "websocket")
    posts = wait_frames(page, "NewCommunityPost", 3)
    assert [f["data"]["post_id"] for f in posts[1:]] == missed
    assert page.evaluate("client.reconnects") == 1


RECORD_SENT = """
window.sentFrames = [];
const realSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  window.sentFrames.push(JSON.parse(data));
  return realSend.call(this, data);
};
"""


@pytest.mark.realtime_config(REALTIME_HEARTBEAT_INTERVAL=0.3)
def test_heartbeats_are_answered_so_the_server_keeps_the_connection(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    page = new_page(init_script=RECORD_SENT)
    open_harness(page, live_server)
    start_client(page, anna["access_token"])
    wait_open(page, "websocket")
    page.wait_for_function("sentFrames.filter((f) => f.type === 'Heartbeat').length >= 3")
    [conn] = live_server.state.hub.connections
    assert conn.last_seen > conn.connected_at  # the server saw them: they reset its idle timer
    assert {f["type"] for f in page.evaluate("sentFrames")} == {"Heartbeat"}


def test_silent_connection_is_detected_by_missing_heartbeats(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    page = new_page()
    open_harness(page, live_server)
    # The server beats every 5 s here; a client that expects one within 0.6 s sees a dead link.
    start_client(page, anna["access_token"], heartbeatTimeout=600)
    wait_open(page, "websocket")
    page.wait_for_function("log.closes.some((c) => c.code === 4000)", timeout=WAIT_MS)
    page.wait_for_function("client.reconnects >= 1 && client.state === 'open'", timeout=WAIT_MS)
    stats = live_server.state.hub.stats
    wait_for(lambda: sum(stats.disconnects.values()) >= 1, what="the server to count the client's close")
    wait_for(lambda: len(live_server.state.hub.connections) == 1, what="one live connection, not two")


ESM_HARNESS = """<!doctype html><meta charset="utf-8"><title>esm</title>
<script type="module">
import Default, { ITCookRealtime, ITCookWebSocket } from "/static/itcook-realtime.mjs";
window.esm = { sameDefault: Default === ITCookRealtime,
               subclass: ITCookWebSocket.prototype instanceof ITCookRealtime };
// The seed's shape: a subclass overriding handler methods, constructed with the token alone.
class Seeded extends ITCookWebSocket {
  onNewPost(data) { window.seenPost = data; }
  showNotification(title, message) { window.notified = title + ": " + message; }
}
window.startSeeded = (token) => {
  window.seeded = new Seeded(token);
  window.seeded.connect();
  window.seeded.subscribe(["community", "personal"]);
};
</script>"""


def test_es_module_import_and_the_seeds_client_shape(live_server, new_page) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    page = new_page()
    open_harness(page, live_server, ESM_HARNESS)
    page.wait_for_function("window.esm !== undefined")
    assert page.evaluate("esm") == {"sameDefault": True, "subclass": True}
    page.evaluate("(t) => startSeeded(t)", anna["access_token"])
    page.wait_for_function("seeded.state === 'open'")
    post_id = _post(api, boris, "Syrniki")
    page.wait_for_function("window.seenPost !== undefined")
    assert page.evaluate("seenPost.post_id") == post_id
    api.call("POST", "/community/users/{}/follow".format(anna["user"]["id"]), boris, expect=201)
    page.wait_for_function("window.notified !== undefined")
    assert page.evaluate("notified") == "New follower: boris follows you"


def test_harness_is_the_plain_script(live_server, new_page) -> None:
    """The classic <script> defines both globals (the harness every other test uses)."""
    page = new_page()
    open_harness(page, live_server, HARNESS)
    assert page.evaluate("[typeof ITCookRealtime, typeof ITCookWebSocket]") == ["function", "function"]
