"""deploy/nginx.conf in front of gunicorn's gevent workers: what browsers and operators meet."""

from __future__ import annotations

import json
import signal
import time

import requests

from tests.support.deploy import PROXY_READ_TIMEOUT, Deployment, children, raw_request, read_until
from tests.support.rest import Api
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import Client, ConnectionClosed, ws_connect


def _post(api: Api, user: dict, content: str) -> int:
    return api.call("POST", "/community/posts", user, expect=201, json={"content": content}).json()["id"]


def _next_post(client: Client, timeout: float = 10.0) -> dict:
    return client.recv_type("NewCommunityPost", timeout)


def _connected(api: Api, user: dict, count: int) -> None:
    wait_for(lambda: api.call("GET", "/realtime/stats", user).json()["connected_clients"] == count,
             20, f"{count} clients in the merged statistics")


def test_rest_websocket_and_sse_through_nginx(deployment: Deployment) -> None:
    """REST, a WebSocket opened by a page of the public site (nginx sends ``Host $host``, no
    port: the origin rule uses X-Forwarded-Host), and SSE events as they are written."""
    api = Api(deployment)
    anna = api.register("anna_rest")
    client = ws_connect(deployment, anna["access_token"], origin=deployment.origin)
    stream = SseStream(deployment, anna["access_token"], headers={"Origin": deployment.origin})
    assert stream.status == 200
    _connected(api, anna, 2)
    _post(api, anna, "through nginx")
    assert _next_post(client)["data"]["content"] == "through nginx"
    assert stream.next()["frame"]["data"]["content"] == "through nginx"
    client.close()
    stream.close()


def test_an_idle_stream_outlives_the_proxy_read_timeout(deployment: Deployment) -> None:
    """Heartbeats (WebSocket) and keep-alive comments (SSE) are shorter than nginx's read
    timeout: streams that carry no event for longer still deliver the next one."""
    api = Api(deployment)
    anna = api.register("anna_idle")
    client = ws_connect(deployment, anna["access_token"], origin=deployment.origin)
    stream = SseStream(deployment, anna["access_token"])
    _connected(api, anna, 2)
    quiet_until = time.monotonic() + 3 * PROXY_READ_TIMEOUT
    heartbeats = 0
    while time.monotonic() < quiet_until:  # nothing but heartbeats for three read timeouts
        assert json.loads(client.recv_raw(5))["type"] == "Heartbeat"
        heartbeats += 1
    _post(api, anna, "after a quiet while")
    assert _next_post(client)["data"]["content"] == "after a quiet while"
    assert stream.next()["frame"]["data"]["content"] == "after a quiet while"
    assert heartbeats >= 3
    client.close()
    stream.close()


def test_metrics_stay_internal(deployment: Deployment) -> None:
    for path in ("/metrics", "/api/v1/realtime/metrics", "/api/v1/realtime/%6detrics"):
        assert requests.get(deployment.url + path, timeout=5).status_code == 403, path
        # Prometheus scrapes the workers on their loopback address.
    assert requests.get(deployment.gunicorn.url + "/metrics", timeout=5).status_code == 200


def test_a_reload_closes_streams_with_1001_at_once_and_clients_resume_losing_nothing(
        deployment: Deployment) -> None:
    """SIGHUP to the gunicorn master (a deploy): new workers start, the old ones close their
    WebSockets with 1001 and end their SSE streams cleanly at once (the grace period is 30 s),
    and clients resuming through nginx with their last id miss nothing and get nothing twice."""
    api = Api(deployment)
    anna = api.register("anna_reload")
    clients = [ws_connect(deployment, anna["access_token"], origin=deployment.origin) for _ in range(4)]
    sse = raw_request(deployment.port, f"GET /api/v1/realtime/sse HTTP/1.1\nHost: 127.0.0.1\n"
                                       f"Authorization: Bearer {anna['access_token']}")
    _connected(api, anna, 5)
    before = _post(api, anna, "before")
    for client in clients:
        assert _next_post(client)["id"] == before
    old_workers = children(deployment.gunicorn.proc.pid)
    deployment.gunicorn.send(signal.SIGHUP)
    for client in clients:
        deadline = time.monotonic() + 10
        while True:
            assert time.monotonic() < deadline, "no close within 10 s"
            try:
                client.recv_raw(5)
            except ConnectionClosed as exc:
                assert exc.code == 1001
                break
        client.sock.close()
    # The stream ends at a message boundary after a retry hint; nginx ends its chunked body
    # with the last chunk (a cut upstream would end the TCP connection without it).
    tail = read_until(sse, 10, lambda data: b"server_shutdown" in data and data.endswith(b"\r\n0\r\n\r\n"))
    sse.close()
    assert b"\nretry: " in tail.rsplit(b"server_shutdown", 1)[-1], tail[-200:]
    # Sent at once: it waits in the listening socket's queue until a new worker has booted.
    during = requests.post(f"{deployment.url}/api/v1/community/posts", headers=anna["headers"],
                           json={"content": "during the reload"}, timeout=60).json()["id"]
    wait_for(lambda: not (old_workers & children(deployment.gunicorn.proc.pid)), 20,
             "the old workers to exit")
    resumed = [ws_connect(deployment, anna["access_token"], origin=deployment.origin,
                          query=f"?last_event_id={before}") for _ in range(4)]
    after = _post(api, anna, "after")
    for client in resumed:
        assert client.recv_type("Recovery")["data"]["recovered"] is True
        assert [_next_post(client)["id"] for _ in range(2)] == [during, after]
        client.assert_silent(0.3)
        client.close()
    log = deployment.gunicorn.output()
    assert "Traceback" not in log and "graceful timeout" not in log.lower(), log[-3000:]
