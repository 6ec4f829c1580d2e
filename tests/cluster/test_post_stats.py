"""PostStats across processes: likes made on two processes in turn; a watcher on either one
sees them coalesced and the final count, each process's sends read from the shared database."""

from __future__ import annotations

import time

from tests.support.cluster import Cluster
from tests.support.rest import Api
from tests.support.ws import Client, ws_connect


def _last_count(ws: Client, final: int, limit: int) -> list[int]:
    """The PostStats counts up to the one that says ``final`` (at most ``limit`` frames)."""
    counts: list[int] = []
    for _ in range(limit):
        counts.append(ws.recv_type("PostStats", timeout=10)["data"]["likes_count"])
        if counts[-1] == final:
            return counts
    raise AssertionError(f"no PostStats with {final} within {limit}: {counts}")


def test_likes_on_two_processes_end_with_the_final_count_everywhere(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    api_a, api_b = Api(a), Api(b)
    anna = api_a.register("anna")
    fans = [api_a.register(f"fan{i}") for i in range(10)]
    post = api_a.call("POST", "/community/posts", anna, 201, json={"content": "Borscht"}).json()
    watchers = [ws_connect(server, anna["access_token"]) for server in (a, b)]
    try:
        for ws in watchers:
            ws.subscribe(f"post:{post['id']}")
        # One after another, every other one on each process: each answer yields to the servers,
        # whose sends would each go out without the coalescing.
        started = time.monotonic()
        for i, fan in enumerate(fans):
            (api_a if i % 2 else api_b).call("POST", f"/community/posts/{post['id']}/like", fan, 201)
        for ws in watchers:
            counts = _last_count(ws, 10, limit=2 * len(fans))
            seconds = time.monotonic() - started
            # Per process the first at once, then at most one a second (a rate, not a duration);
            # without the coalescing every like would send one.
            assert len(counts) < len(fans), counts
            assert len(counts) <= 2 * (2 + int(seconds)), (counts, seconds)
    finally:
        for ws in watchers:
            ws.close()
        api_a.close()
        api_b.close()
