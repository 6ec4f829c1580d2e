"""Revocation does not depend on the broker: a user disabled while their process is cut off from
Redis is closed with 4003 there (after the link returns, or by the periodic recheck if it never
does) and hears nothing of a private group after the disable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent
import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support.cluster import PG_URL, REDIS_HOST, REDIS_PORT, Cluster, Server, TcpProxy
from tests.support.rest import Api
from tests.support.streams import TRANSPORTS, Stream
from tests.support.waiting import wait_for
from tests.support.ws import ConnectionClosed


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    front = TcpProxy((REDIS_HOST, REDIS_PORT))
    yield front
    front.cut()


def _make_admin(user: dict[str, Any]) -> None:
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": user["user"]["id"]})
    engine.dispose()


def _stats(server: Server, user: dict[str, Any]) -> dict[str, Any]:
    return requests.get(f"{server.url}/api/v1/realtime/stats", headers=user["headers"], timeout=5).json()


def _until_closed(stream: Stream, timeout: float = 30.0) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame until the server ends the stream, and its close code (None for SSE)."""
    frames: list[dict[str, Any]] = []
    # SSE keep-alives reset the read timeout: only an overall bound ends an open stream.
    with gevent.Timeout(timeout, False):
        while True:
            try:
                frames.append(stream.frame(timeout))
            except ConnectionClosed as exc:
                return frames, exc.code
            except StopIteration:
                return frames, None
    raise AssertionError(f"the stream stayed open; frames: {frames}")


def _disable_while_cut_off(cluster: Cluster, proxy: TcpProxy, transport: str,
                           recheck_interval: str, enable_again: bool = False,
                           remove_instead: bool = False) -> tuple[Server, Server, dict, Stream]:
    """Process ``a`` reaches Redis through ``proxy``, ``b`` directly. Bob streams a private
    group on ``a``; the proxy is cut, an admin disables bob on ``b`` (and, with ``enable_again``,
    enables him again; with ``remove_instead`` anna removes him from the group instead), and
    anna posts to the group; then (``remove_instead``) the admin sends bob a notice.
    """
    (b,) = cluster.start(1)
    a = Server({**cluster.env, "ITCOOK_BROKER_URL": f"redis://{REDIS_HOST}:{proxy.port}/0",
                "ITCOOK_REALTIME_PRINCIPAL_RECHECK_INTERVAL": recheck_interval}, "cut-off")
    cluster.servers.append(a)
    api = Api(b)
    anna, bob, root = api.register("anna"), api.register("bob"), api.register("root")
    _make_admin(root)
    group = api.call("POST", "/groups", anna, expect=201, json={"name": "Secret club"}).json()
    api.call("POST", f"/groups/{group['id']}/invites", anna, expect=201, json={"user_id": bob["user"]["id"]})
    api.call("POST", f"/groups/{group['id']}/join", bob, expect=201)
    stream = Stream(transport, a, bob["access_token"], query=f"?channels=personal,group:{group['id']}")

    def post(content: str) -> None:
        api.call("POST", f"/groups/{group['id']}/posts", anna, expect=201, json={"content": content})

    post("before")
    frame = stream.frame()
    assert (frame["type"], frame["data"]["content"]) == ("NewGroupPost", "before")
    proxy.cut()
    wait_for(lambda: _stats(a, anna)["broker_connected"] is False, timeout=15,
             what="the cut-off process to notice")
    if remove_instead:
        api.call("DELETE", f"/groups/{group['id']}/members/{bob['user']['id']}", anna, expect=200)
    else:
        api.call("POST", f"/admin/users/{bob['user']['id']}/disable", root, expect=200)
    if enable_again:
        api.call("POST", f"/admin/users/{bob['user']['id']}/enable", root, expect=200)
    post("after the disable")
    if remove_instead:
        api.call("POST", "/admin/notifications", root, expect=201,
                 json={"title": "t", "message": "after the post", "user_id": bob["user"]["id"]})
    return a, b, bob, stream


def _assert_revoked(a: Server, bob: dict[str, Any], stream: Stream) -> None:
    frames, code = _until_closed(stream)
    assert [f for f in frames if f["type"] == "NewGroupPost"] == []
    if stream.transport == "websocket":
        assert code == 4003
    else:  # SSE has no close code: the stream ends, and the reconnect is refused
        response = requests.get(f"{a.url}/api/v1/realtime/sse", timeout=5,
                                headers={"Authorization": f"Bearer {bob['access_token']}"})
        assert (response.status_code, response.json()["error"]["code"]) == (401, "user_inactive")
    stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_user_disabled_during_an_outage_is_closed_when_the_link_returns(
        cluster: Cluster, proxy: TcpProxy, transport: str) -> None:
    # No periodic recheck within the test: the resync alone must find bob revoked.
    a, _b, bob, stream = _disable_while_cut_off(cluster, proxy, transport, "3600")
    proxy.start()
    _assert_revoked(a, bob, stream)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_user_disabled_during_an_outage_is_closed_by_the_periodic_recheck(
        cluster: Cluster, proxy: TcpProxy, transport: str) -> None:
    a, _b, bob, stream = _disable_while_cut_off(cluster, proxy, transport, "0.3")
    _assert_revoked(a, bob, stream)  # the link never returns


def test_user_disabled_and_enabled_again_during_an_outage_is_closed_when_the_link_returns(
        cluster: Cluster, proxy: TcpProxy) -> None:
    # Active again, but the stream's token belongs to the sessions the disable ended.
    a, _b, bob, stream = _disable_while_cut_off(cluster, proxy, "websocket", "3600", enable_again=True)
    proxy.start()
    _assert_revoked(a, bob, stream)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_user_disabled_during_an_outage_gets_nothing_the_log_brings_meanwhile(
        cluster: Cluster, proxy: TcpProxy, transport: str) -> None:
    # Cut off, the process reads the group post from the log's tail (its doorbell never rang);
    # the disable's message was lost the same way, and no periodic recheck falls in the test.
    a, _b, bob, stream = _disable_while_cut_off(cluster, proxy, transport, "3600")
    _assert_revoked(a, bob, stream)  # the link never returns


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_member_removed_during_an_outage_gets_no_group_post_the_log_brings_meanwhile(
        cluster: Cluster, proxy: TcpProxy, transport: str) -> None:
    _a, _b, _bob, stream = _disable_while_cut_off(cluster, proxy, transport, "3600", remove_instead=True)
    frames = []
    while not frames or frames[-1]["type"] != "SystemNotification":  # bounded by frame()'s timeout
        frames.append(stream.frame())
    # In id order from the log: the removal is found before the post would have gone out.
    assert [f["type"] for f in frames] == ["Unsubscribed", "SystemNotification"]
    assert frames[0]["data"]["reason"] == "access_revoked"
    stream.close()
