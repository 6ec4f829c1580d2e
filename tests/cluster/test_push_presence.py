"""Web Push across processes: a user connected to any process counts as present (Redis presence)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.cluster import REDIS_HOST, REDIS_PORT, Cluster
from tests.support.push import VAPID_PRIVATE, VAPID_PUBLIC, PushService
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


@pytest.fixture
def cluster_settings() -> dict[str, str]:
    # One push worker: jobs are handled in order, so a later push proves an earlier job was skipped.
    return {"ITCOOK_PUSH_VAPID_PRIVATE_KEY": VAPID_PRIVATE, "ITCOOK_PUSH_ALLOW_HTTP": "1",
            "ITCOOK_PUSH_ALLOW_PRIVATE_ADDRESSES": "1",
            "ITCOOK_PUSH_CONCURRENCY": "1", "ITCOOK_PUSH_RETRY_DELAY": "0.05"}


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService(VAPID_PUBLIC)
    yield service
    service.stop()


def _present(cluster: Cluster, user_id: int) -> bool:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        values = client.hvals(f"{cluster.prefix}:presence:{user_id}")
    finally:
        client.close()
    return any(float(value) > time.time() for value in values)


def test_no_push_while_connected_to_another_process(cluster: Cluster, push_service: PushService) -> None:
    a, b = cluster.start(2)
    api_a, api_b = Api(a), Api(b)
    anna, boris, carol = api_a.register("anna"), api_a.register("boris"), api_a.register("carol")
    anna_sub, carol_sub = push_service.subscribe(), push_service.subscribe()
    api_a.call("POST", "/push/subscriptions", anna, expect=201, json=anna_sub)
    api_a.call("POST", "/push/subscriptions", carol, expect=201, json=carol_sub)
    client = ws_connect(a, anna["access_token"])
    wait_for(lambda: _present(cluster, anna["user"]["id"]), timeout=10, what="anna present in Redis")
    # REST on process b: b has no connection of anna's, and must not push to her.
    api_b.call("POST", f"/community/users/{anna['user']['id']}/follow", boris, expect=201)
    api_b.call("POST", f"/community/users/{carol['user']['id']}/follow", boris, expect=201)
    wait_for(lambda: len(push_service.to(carol_sub)) == 1, timeout=10, what="carol's push")
    assert push_service.to(anna_sub) == []
    assert client.recv_type("NewFollower", timeout=10)["data"]["follower_name"] == "boris"
    client.close()
    wait_for(lambda: not _present(cluster, anna["user"]["id"]), timeout=10, what="anna gone from Redis")
    post = api_a.call("POST", "/community/posts", anna, expect=201, json={"content": "Soup"}).json()
    api_b.call("POST", f"/community/posts/{post['id']}/like", boris, expect=201)
    wait_for(lambda: len(push_service.to(anna_sub)) == 1, timeout=10, what="anna's push")
    [received] = push_service.to(anna_sub)
    assert received.error is None and received.payload["type"] == "PostLiked"
    assert received.payload["body"] == "boris liked your post"
