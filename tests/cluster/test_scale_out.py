"""Scale-out with real processes, PostgreSQL and Redis: every event once, everywhere, through faults."""

from __future__ import annotations

import datetime as dt
import signal
from typing import Any

import gevent
import pytest
import redis
import requests

from tests.support.cluster import REDIS_HOST, REDIS_PORT, Cluster
from tests.support.rest import Api
from tests.support.servers import free_port
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


def _posts(client, count: int, timeout: float = 20.0) -> list[str]:
    """The contents of the next ``count`` NewCommunityPost frames (Recovery frames skipped)."""
    contents: list[str] = []
    for _ in range(count * 3 + 10):
        try:
            frame = client.recv(timeout)
        except TimeoutError:
            raise AssertionError(f"only {len(contents)} of {count} posts: {contents}") from None
        if frame["type"] == "NewCommunityPost":
            contents.append(frame["data"]["content"])
            if len(contents) == count:
                return contents
    raise AssertionError(f"only {len(contents)} of {count} posts")


def _stats(server, user) -> dict[str, Any]:
    return requests.get(f"{server.url}/api/v1/realtime/stats", headers=user["headers"], timeout=5).json()


def test_events_reach_every_process_once(cluster: Cluster) -> None:
    a, b, c = cluster.start(3)
    anna, bob = Api(a).register("anna"), Api(b).register("bob")
    carol = Api(c).register("carol")
    clients = {"anna@a": ws_connect(a, anna["access_token"]), "bob@b": ws_connect(b, bob["access_token"]),
               "carol@c": ws_connect(c, carol["access_token"])}
    sse = SseStream(c, bob["access_token"])
    wait_for(lambda: _stats(a, anna).get("connected_clients") == 4, timeout=10,
             what="four clients across three processes")
    post = Api(a).call("POST", "/community/posts", anna, expect=201, json={"content": "hello all"}).json()
    for client in clients.values():
        frame = client.recv(10)
        assert frame["type"] == "NewCommunityPost" and frame["data"]["content"] == "hello all"
    assert sse.next()["frame"]["data"]["content"] == "hello all"
    Api(c).call("POST", f"/community/posts/{post['id']}/like", bob, expect=201)  # REST on process c
    liked = clients["anna@a"].recv(10)  # anna is connected to process a
    assert liked["type"] == "PostLiked" and liked["data"]["user_id"] == bob["user"]["id"]
    for name in ("bob@b", "carol@c"):
        clients[name].assert_silent(0.3)
    # Each process reports every 0.2 s: the merged view is eventually complete, so wait for it.
    def merged_view_is_complete() -> bool:
        stats = _stats(b, bob)
        return (stats["processes_reporting"] == 3
                and stats["connections_by_transport"] == {"websocket": 3, "sse": 1}
                and stats["events_by_type"].get("NewCommunityPost") == 3  # fanned out once per process
                and stats["events_sent_today"] == 5)

    wait_for(merged_view_is_complete, timeout=10, what="every process's report in /stats")
    for client in clients.values():
        client.close()
    sse.close()


def _publish_posts(server, user, contents: list[str], pause: float = 0.02) -> None:
    api = Api(server)
    for content in contents:
        api.call("POST", "/community/posts", user, expect=201, json={"content": content})
        gevent.sleep(pause)


def test_pubsub_connection_killed_mid_stream(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    anna = Api(a).register("anna")
    clients = [ws_connect(a, anna["access_token"]), ws_connect(b, anna["access_token"])]
    wait_for(lambda: _stats(a, anna).get("connected_clients") == 2, timeout=10, what="clients")
    contents = [f"post {n}" for n in range(40)]
    publisher = gevent.spawn(_publish_posts, a, anna, contents)
    wait_for(lambda: len(requests.get(f"{a.url}/api/v1/community/posts", headers=anna["headers"],
                                      timeout=5).json()["items"]) >= 10, what="a few posts")
    killed = redis.Redis(host=REDIS_HOST, port=REDIS_PORT).execute_command("CLIENT KILL TYPE pubsub")
    assert killed >= 2
    publisher.join(timeout=60)
    assert publisher.successful()
    for client in clients:
        assert _posts(client, len(contents)) == contents  # every event, in order, once
        client.close()


def test_redis_unreachable_for_a_while(tmp_path, proxy) -> None:
    from tests.support.cluster import reset_database

    reset_database()
    cluster = Cluster(tmp_path, proxy.port)
    try:
        a, b = cluster.start(2)
        anna = Api(a).register("anna")
        clients = [ws_connect(a, anna["access_token"]), ws_connect(b, anna["access_token"])]
        wait_for(lambda: _stats(a, anna).get("connected_clients") == 2, timeout=10, what="clients")
        _publish_posts(a, anna, ["before"])
        for client in clients:
            assert _posts(client, 1) == ["before"]
        proxy.cut()
        # REST keeps working while Redis is unreachable: the events go to the log.
        _publish_posts(a, anna, [f"during {n}" for n in range(5)])
        _publish_posts(b, anna, ["during b"])
        proxy.start()
        _publish_posts(b, anna, ["after"], pause=0)
        expected = [f"during {n}" for n in range(5)] + ["during b", "after"]
        for client in clients:
            assert _posts(client, len(expected), timeout=30) == expected
            client.close()
    finally:
        cluster.stop()


def test_worker_killed_clients_resume_on_another(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    anna = Api(a).register("anna")
    client = ws_connect(a, anna["access_token"])
    Api(b).call("POST", "/community/posts", anna, expect=201, json={"content": "seen"})
    last = client.recv(10)["id"]
    a.stop(signal.SIGKILL)
    for n in range(3):
        Api(b).call("POST", "/community/posts", anna, expect=201, json={"content": f"missed {n}"})
    try:
        client.recv(5)
    except Exception:  # the dead worker's socket: closed or reset
        pass
    client = ws_connect(b, anna["access_token"], query=f"?last_event_id={last}")
    assert _posts(client, 3) == ["missed 0", "missed 1", "missed 2"]
    assert client.recv_type("Recovery")["data"]["recovered"] is True
    client.close()


@pytest.mark.parametrize("cluster_settings", [{"ITCOOK_EXPIRY_SCAN_INTERVAL": "0.3"}])
def test_expiry_scan_announced_once_with_three_workers(cluster: Cluster) -> None:
    from sqlalchemy import create_engine, func, select, text

    first, *_ = cluster.start(1)
    anna = Api(first).register("anna")
    client = ws_connect(first, anna["access_token"])
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    Api(first).call("POST", "/fridge/items", anna, expect=201, json={"name": "Milk", "expires_on": tomorrow})
    cluster.start(2)  # three workers, each running the periodic scan
    frame = client.recv_type("ExpiringItems", timeout=15)
    assert [item["name"] for item in frame["data"]["items"]] == ["Milk"]
    client.assert_silent(1.5)  # five more scan intervals: nothing announced again
    from tests.support.cluster import PG_URL

    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(text("realtime_events"))
                             .where(text("type = 'ExpiringItems'"))).scalar()
    engine.dispose()
    assert count == 1
    client.close()


def test_cluster_lock_admits_one_holder() -> None:
    from itcook.realtime.brokers.redis import RedisStore

    prefix = f"itcook-lock-{free_port()}"
    first = RedisStore(f"redis://{REDIS_HOST}:{REDIS_PORT}/0", prefix)
    second = RedisStore(f"redis://{REDIS_HOST}:{REDIS_PORT}/0", prefix)
    assert first.try_lock("scan", 5.0) is True
    assert second.try_lock("scan", 5.0) is False
    assert first.try_lock("scan", 5.0) is False
    first.client.delete(f"{prefix}:lock:scan")


def test_unreachable_redis_fails_at_start_with_a_clear_message(tmp_path) -> None:
    from itcook import create_app
    from tests.support.servers import make_test_config

    with pytest.raises(RuntimeError, match="cannot reach Redis"):
        create_app(make_test_config(tmp_path, BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"))


def test_gunicorn_with_two_gevent_workers(tmp_path) -> None:
    """The documented deployment command: two workers, events cross them, both transports work."""
    from tests.support.cluster import reset_database
    from tests.support.deploy import start_gunicorn

    reset_database()
    server = start_gunicorn(tmp_path, workers=2)  # waits until both workers have booted

    class Front:
        url = server.url
        ws_url = f"ws://127.0.0.1:{server.port}/api/v1/realtime/ws"
        port = server.port

    try:
        anna = Api(Front).register("anna")
        wait_for(lambda: _stats(Front, anna).get("processes_reporting") == 2, timeout=20,
                 what="both workers reporting")
        clients = [ws_connect(Front, anna["access_token"]) for _ in range(6)]
        stream = SseStream(Front, anna["access_token"])
        wait_for(lambda: _stats(Front, anna).get("connected_clients") == 7, timeout=10, what="clients")
        Api(Front).call("POST", "/community/posts", anna, expect=201, json={"content": "via gunicorn"})
        for client in clients:
            assert _posts(client, 1) == ["via gunicorn"]
            client.close()
        assert stream.next()["frame"]["data"]["content"] == "via gunicorn"
        stream.close()
    finally:
        server.stop()


def test_two_relays_never_publish_the_same_outbox_event() -> None:
    """While one relay publishes an outbox row (locked), another relay skips it; the row is
    gone once the first one commits, so a third finds nothing."""
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.orm import Session

    from itcook.realtime.events import Event
    from itcook.realtime.history import define_tables
    from itcook.realtime.outbox import Outbox, define_outbox_table
    from tests.support.cluster import PG_URL, reset_database

    reset_database()
    engine = create_engine(PG_URL)
    metadata = MetaData()
    outbox = Outbox(engine, define_tables(metadata), define_outbox_table(metadata))
    try:
        with Session(engine) as session:
            logged = Event(type="SystemNotification", channel="system", data={"n": 1})
            outbox.write(session, logged)
            session.commit()
        second: list[list[Event]] = []

        def publish_while_another_relay_runs(event: Event) -> bool:
            second.append(outbox.relay(lambda e: True, grace_seconds=0))
            return True

        first = outbox.relay(publish_while_another_relay_runs, grace_seconds=0)
        assert [e.id for e in first] == [logged.id] and second == [[]]
        assert outbox.relay(lambda e: True, grace_seconds=0) == [] and outbox.pending() == 0
    finally:
        engine.dispose()
