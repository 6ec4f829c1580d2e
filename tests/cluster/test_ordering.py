"""One process cut off from Redis: its events still reach every client of every process, in id
order, exactly once — live, and across resumes in the middle (issue 23).

Real processes on PostgreSQL; process A reaches Redis through a TCP proxy the test cuts and
restores, B and C directly. Clients of both transports on every process.
"""

from __future__ import annotations

import random
from typing import Any

import gevent
import requests

from tests.support import soak
from tests.support.cluster import PG_URL, REDIS_PORT, Cluster, reset_database
from tests.support.rest import Api
from tests.support.waiting import wait_for

#: Short, so that the test does not wait long on the ids it has to give up (none here).
SETTINGS = {"ITCOOK_REALTIME_GAP_WAIT": "0.5", "ITCOOK_REALTIME_SSE_KEEPALIVE_INTERVAL": "1"}


def _community_ids(start_id: int) -> list[int]:
    return [i for i, channel in soak.logged_events(PG_URL, start_id) if channel == "community"]


def _reader(client: soak.SoakClient) -> None:
    while True:
        try:
            client.take(client.frame(timeout=1.0))
        except TimeoutError:
            continue  # an idle WebSocket


class Clients:
    """Community clients of both transports, each read by a greenlet of its own."""

    def __init__(self, user: dict[str, Any]) -> None:
        self.user = user
        self.all: list[soak.SoakClient] = []
        self._readers: dict[str, gevent.Greenlet] = {}

    def open(self, server: Any, transport: str) -> soak.SoakClient:
        client = soak.SoakClient(f"{transport}@{server.name}#{len(self.all)}", self.user,
                                    transport, ["community"], {"community"})
        self.all.append(client)
        self._start(client, server)
        return client

    def _start(self, client: soak.SoakClient, server: Any) -> None:
        client.open(server)
        self._readers[client.name] = gevent.spawn(_reader, client)

    def resume(self, client: soak.SoakClient, server: Any) -> None:
        """Drop the connection and reconnect to ``server`` with the last id received."""
        self._readers.pop(client.name).kill()
        client.close()
        client.reconnects += 1
        self._start(client, server)

    def wait_for_ids(self, ids: list[int], what: str, timeout: float = 20.0) -> None:
        def missing() -> dict[str, list[int]]:
            return {c.name: sorted(set(ids) - c.seen) for c in self.all if set(ids) - c.seen}

        try:
            wait_for(lambda: not missing(), timeout=timeout, what=what)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}: missing {missing()}") from None

    def close(self) -> None:
        gevent.killall(list(self._readers.values()))
        for client in self.all:
            client.close()


def _brokers_connected(server: Any, user: dict[str, Any], count: int) -> bool:
    stats = requests.get(f"{server.url}/api/v1/realtime/stats", headers=user["headers"], timeout=5).json()
    processes = stats.get("processes", [])
    return len(processes) == count and all(p["broker_connected"] for p in processes)


def test_events_of_a_process_cut_off_from_redis_reach_every_client_in_order(tmp_path, proxy) -> None:
    reset_database()
    cluster = Cluster(tmp_path, REDIS_PORT, **SETTINGS)
    clients: Clients | None = None
    try:
        (a,) = cluster.start(1, ITCOOK_BROKER_URL=f"redis://127.0.0.1:{proxy.port}/0")
        b, c = cluster.start(2)
        servers = {"a": a, "b": b, "c": c}
        anna = Api(b).register("anna")
        start_id = max([0, *(i for i, _ in soak.logged_events(PG_URL, 0))])
        clients = Clients(anna)
        for server in (a, b, c):
            for transport in ("websocket", "sse"):
                clients.open(server, transport)
        resumers = [clients.open(b, "websocket"), clients.open(b, "sse")]
        wait_for(lambda: _brokers_connected(b, anna, 3) and requests.get(
            f"{b.url}/api/v1/realtime/stats", headers=anna["headers"], timeout=5
        ).json()["connected_clients"] == len(clients.all), timeout=20, what="every client connected")

        def post(name: str, content: str) -> None:
            Api(servers[name]).call("POST", "/community/posts", anna, expect=201, json={"content": content})

        post("b", "before")
        clients.wait_for_ids(_community_ids(start_id), "the first post everywhere")

        proxy.cut()
        post("a", "a while cut")  # committed; its Redis publish fails and nothing comes after it
        clients.wait_for_ids(_community_ids(start_id), "A's post while it is cut off, with no later one")

        # Posts of all three processes interleaved; the resumers drop out in the middle and come
        # back (one to the process that is cut off) with the last id they got.
        rng = random.Random(23)
        for n in range(12):
            post(rng.choice("aabc"), f"cut {n}")
            if n == 5:
                clients.resume(resumers[0], c)
                clients.resume(resumers[1], a)
        clients.wait_for_ids(_community_ids(start_id), "every post made during the cut")

        proxy.start()
        wait_for(lambda: _brokers_connected(b, anna, 3), timeout=30, what="A back on Redis")
        for n, name in enumerate("abcab"):
            post(name, f"after {n}")
        clients.resume(resumers[0], b)
        expected = _community_ids(start_id)
        clients.wait_for_ids(expected, "every post after the link returned")
        summary = soak.check(clients.all, [(i, "community") for i in expected])
        assert summary["events"] == 1 + 1 + 12 + 5
        stats = requests.get(f"{b.url}/api/v1/realtime/stats", headers=anna["headers"], timeout=5).json()
        assert stats["events_from_log"] >= 3  # A's post while cut off, read by each process
        assert stats["event_ids_skipped"] == 0 and stats["events_late"] == 0
    finally:
        if clients is not None:
            clients.close()
        cluster.stop()
