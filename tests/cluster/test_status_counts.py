"""The status numbers of past events, with real processes: every process reports the same counts,
and a restart of the whole cluster erases none of them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from tests.support.cluster import Cluster
from tests.support.rest import Api
from tests.support.waiting import wait_for

COUNTED = ("events_published_today", "events_by_day", "events_per_interval")


def _counts(server: Any, user: dict[str, Any]) -> dict[str, Any]:
    body = requests.get(f"{server.url}/api/v1/realtime/stats", headers=user["headers"], timeout=5).json()
    return {key: body[key] for key in COUNTED}


def test_every_process_reports_the_day_counts_of_the_log_across_restarts(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    anna = Api(a).register("anna")
    for n, server in enumerate((a, b, a, b, a)):
        Api(server).call("POST", "/community/posts", anna, expect=201, json={"content": f"post {n}"})
    a.stop()
    b.stop()
    c, d = cluster.start(2)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    # Each process caches its read for a few seconds: the first read here is already fresh.
    assert _counts(c, anna)["events_by_day"] == {f"{today}/NewCommunityPost": 5}
    wait_for(lambda: _counts(c, anna) == _counts(d, anna), timeout=15, what="the same counts")
    counts = _counts(d, anna)
    assert counts["events_published_today"] == 5 and sum(counts["events_per_interval"].values()) == 5
