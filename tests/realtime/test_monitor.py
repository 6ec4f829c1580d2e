"""Monitoring: Prometheus /metrics (one process and several), the status page's feed, the demo route."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from itcook.realtime import monitor
from itcook.realtime.stats import merge_snapshots
from itcook.realtime.timeline import Timeline, series
from tests.support.rest import Api
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import HandshakeRefused, ws_connect


def scrape(server: Any, path: str = "/metrics", **kwargs: Any) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels without process): value}`` summed over processes."""
    response = requests.get(server.url + path, timeout=5, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "process"))
            samples[(sample.name, labels)] = samples.get((sample.name, labels), 0) + sample.value
    return samples




def test_metrics_follow_connections_events_and_failures(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    ws = ws_connect(live_server, anna["access_token"])
    sse = SseStream(live_server, anna["access_token"])
    hub = live_server.state.hub
    wait_for(lambda: len(hub.connections) == 2, what="two streams")
    with pytest.raises(HandshakeRefused):
        ws_connect(live_server, "not-a-token")
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "Kasha"})
    ws.recv_type("NewCommunityPost")
    sse.next()

    m = scrape(live_server)
    assert m[("itcook_realtime_connections", (("transport", "websocket"),))] == 1
    assert m[("itcook_realtime_connections", (("transport", "sse"),))] == 1
    assert m[("itcook_realtime_connected_users", ())] == 1
    assert m[("itcook_realtime_subscribers", (("channel", "community"),))] == 2
    assert m[("itcook_realtime_events_total", (("type", "NewCommunityPost"),))] == 1
    assert m[("itcook_realtime_deliveries_total", (("type", "NewCommunityPost"),))] == 2
    assert m[("itcook_realtime_handshake_failures_total", (("reason", "invalid_token"),))] == 1
    assert m[("itcook_realtime_connections_opened_total", (("transport", "websocket"),))] == 1
    assert m[("itcook_realtime_broker_connected", ())] == 1
    assert m[("itcook_realtime_processes_reporting", ())] == 1

    ws.close()
    wait_for(lambda: len(hub.connections) == 1, what="the WebSocket to go")
    m = scrape(live_server, "/api/v1/realtime/metrics")  # the same view under the prefix
    assert m[("itcook_realtime_connections", (("transport", "websocket"),))] == 0
    assert m[("itcook_realtime_disconnects_total", (("code", "1000"), ("reason", "normal")))] == 1
    sse.close()


def test_metrics_expose_every_process_reporting_through_the_broker(live_server, monkeypatch) -> None:
    state = live_server.state
    other = {**state.snapshot(), "process_id": "other-host:42:abc", "events_by_type": {"NewComment": 5},
             "connections_by_transport": {"websocket": 3, "sse": 1}}
    monkeypatch.setattr(state.cluster, "gather_stats", lambda: [state.snapshot(), other])
    text = requests.get(live_server.url + "/metrics", timeout=5).text
    assert 'itcook_realtime_events_total{process="other-host:42:abc",type="NewComment"} 5.0' in text
    assert f'itcook_realtime_connections{{process="{state.process_id}",transport="websocket"}} 0.0' in text
    m = scrape(live_server)
    assert m[("itcook_realtime_processes_reporting", ())] == 2
    assert m[("itcook_realtime_connections", (("transport", "websocket"),))] == 3


def test_metrics_survive_a_broker_that_cannot_answer(live_server, monkeypatch) -> None:
    def down() -> list[dict[str, Any]]:
        raise ConnectionError("broker down")

    monkeypatch.setattr(live_server.state.cluster, "gather_stats", down)
    assert scrape(live_server)[("itcook_realtime_processes_reporting", ())] == 1


@pytest.mark.realtime_config(REALTIME_METRICS_TOKEN="scrape-secret")
def test_metrics_token_when_configured(live_server) -> None:
    refused = requests.get(live_server.url + "/metrics", timeout=5)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    wrong = requests.get(live_server.url + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
    assert scrape(live_server, headers={"Authorization": "Bearer scrape-secret"})


def test_metrics_speak_openmetrics_when_asked(live_server) -> None:
    response = requests.get(live_server.url + "/metrics", timeout=5,
                            headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_status_data_is_for_admins_only(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    assert api.call("GET", "/realtime/status/data").json()["error"]["code"] == "missing_token"
    forbidden = api.call("GET", "/realtime/status/data", anna, expect=403)
    assert forbidden.json()["error"]["code"] == "forbidden"
    root = api.register_admin()
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "Okroshka"})
    wait_for(lambda: live_server.state.hub.stats.events_today == 1, what="the event")
    body = api.call("GET", "/realtime/status/data", root, expect=200).json()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert body["events_by_day"] == {today: {"NewCommunityPost": 1}}
    assert body["events_by_type"] == {"NewCommunityPost": 1}
    assert len(body["series"]["events"]) == 120 and body["series"]["step"] == 5
    assert "events_per_interval" not in body and body["processes_reporting"] == 1


def test_status_page_and_demo_are_served_with_their_headers(client) -> None:
    page = client.get("/api/v1/realtime/status")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert b"status/status.js" in page.data
    script = client.get("/api/v1/realtime/status/status.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    demo = client.get("/")
    assert demo.status_code == 200 and demo.mimetype == "text/html"
    assert b"/static/itcook-realtime.js" in demo.data
    for name, mimetype in (("itcook-realtime.js", "text/javascript"),
                           ("itcook-realtime.mjs", "text/javascript"), ("itcook-realtime.d.ts", None)):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200, name
        if mimetype:
            assert asset.mimetype == mimetype, name


def test_timeline_buckets_add_up_across_processes() -> None:
    one, two = Timeline(step=5, buckets=3), Timeline(step=5, buckets=3)
    for now in (100.0, 101.0, 104.9, 105.0, 120.0):
        one.add(1, 2, now=now)
    two.add(1, 10, now=103.0)
    assert one.snapshot() == {"events": {"100": 3, "105": 1, "120": 1},
                              "deliveries": {"100": 6, "105": 2, "120": 2}}
    merged = merge_snapshots([{"events_per_interval": one.snapshot()["events"]},
                              {"events_per_interval": two.snapshot()["events"]}])["events_per_interval"]
    assert merged == {"100": 4, "105": 1, "120": 1}  # aligned buckets: processes add up
    one.add(1, 0, now=125.0)
    assert list(one.snapshot()["events"]) == ["105", "120", "125"]  # bounded: the oldest goes
    # As rates: the current bucket is left out; missing buckets are zeros.
    assert series({"100": 10, "110": 5}, step=5, buckets=4, now=117.0) == [
        [95, 0.0], [100, 2.0], [105, 0.0], [110, 1.0]]


def test_by_day_nests_the_flat_counters() -> None:
    flat = {"2026-11-25/NewComment": 2, "2026-11-26/NewComment": 1, "2026-11-26/PostLiked": 4}
    assert monitor.by_day(flat) == {"2026-11-26": {"NewComment": 1, "PostLiked": 4},
                                    "2026-11-25": {"NewComment": 2}}
