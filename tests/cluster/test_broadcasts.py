"""Live broadcasts across two real processes (PostgreSQL + Redis): reactions sent to both are
published once a second per broadcast, in counts that sum exactly to what was sent; the viewer
count is of the users on both; steps and chat reach the viewers of both."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.support.cluster import Cluster
from tests.support.rest import Api
from tests.support.ws import Client, ws_connect


def _totals(client: Client, live_id: int, until: dict[str, int]) -> tuple[dict[str, int], int]:
    """Sum LiveReactions counts until they reach ``until``; also how many frames it took.

    Their server times are a second apart (less the publisher's jitter), not one per process."""
    totals: dict[str, int] = {}
    stamps: list[dt.datetime] = []
    while any(totals.get(k, 0) < n for k, n in until.items()):
        frame = client.recv_type("LiveReactions", timeout=15, limit=1000)
        assert frame["data"]["live_id"] == live_id
        stamps.append(dt.datetime.fromisoformat(frame["ts"].replace("Z", "+00:00")))
        if len(stamps) > 1:
            assert (stamps[-1] - stamps[-2]).total_seconds() > 0.5, stamps
        for emoji, n in frame["data"]["counts"].items():
            totals[emoji] = totals.get(emoji, 0) + n
    return totals, len(stamps)


def _count_becomes(client: Client, n: int, stamps: list[dt.datetime]) -> dict[str, Any]:
    """Read LiveViewers until the count is ``n``; they too are a second apart (``stamps``: seen)."""
    while True:
        frame = client.recv_type("LiveViewers", timeout=15, limit=1000)
        stamps.append(dt.datetime.fromisoformat(frame["ts"].replace("Z", "+00:00")))
        if len(stamps) > 1:
            assert (stamps[-1] - stamps[-2]).total_seconds() > 0.5, stamps
        if frame["data"]["count"] == n:
            return frame


def test_reactions_on_two_processes_sum_exactly_and_viewers_count_both(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    api = Api(a)
    anna = api.register("anna")
    live = api.call("POST", "/live", anna, expect=201,
                    json={"title": "Plov", "steps": ["Fry", "Stew"]}).json()
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    channel = f"live:{live['id']}"
    host = ws_connect(a, anna["access_token"], query=f"?channels={channel}", timeout=10)
    users = [api.register(f"viewer{i}") for i in range(6)]
    viewers = [ws_connect((a, b)[i % 2], u["access_token"], query=f"?channels={channel}", timeout=10)
               for i, u in enumerate(users)]
    seen: list[dt.datetime] = []
    assert _count_becomes(host, 7, seen)["data"] == {"live_id": live["id"], "count": 7}
    sent = {"👍": 0, "😋": 0, "🔥": 0}
    emojis = list(sent)
    for round_ in range(20):
        for i, viewer in enumerate(viewers):
            emoji = emojis[(i + round_) % 3]
            viewer.send({"type": "React", "live_id": live["id"], "emoji": emoji})
            sent[emoji] += 1
    on_a, _ = _totals(viewers[0], live["id"], sent)
    on_b, frames = _totals(viewers[1], live["id"], sent)
    assert on_a == on_b == sent
    assert frames < sum(sent.values()) / 10  # batched: not one frame per reaction
    # One more, on the other process, comes out as exactly one more: nothing was counted twice.
    viewers[3].send({"type": "React", "live_id": live["id"], "emoji": "👍"})
    assert _totals(viewers[0], live["id"], {"👍": 1})[0] == {"👍": 1}
    # Steps and chat reach the viewers of both processes.
    Api(b).call("POST", f"/live/{live['id']}/step", anna, expect=200, json={"index": 1})
    Api(b).call("POST", f"/live/{live['id']}/chat", users[1], expect=201, json={"text": "yum"})
    for viewer in viewers[:2]:
        assert viewer.recv_type("LiveStep", timeout=10, limit=1000)["data"]["text"] == "Stew"
        assert viewer.recv_type("LiveChat", timeout=10, limit=1000)["data"]["text"] == "yum"
    for viewer in viewers[3:]:
        viewer.close()
    _count_becomes(host, 4, seen)
    for client in (*viewers[:3], host):
        client.close()
