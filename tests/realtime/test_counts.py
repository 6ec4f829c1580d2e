"""Counts of past events come from the log: a restart does not erase them, pruning does not
erase the per-day table."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert

from itcook import create_app
from itcook.extensions import db
from tests.support.rest import Api
from tests.support.servers import LiveServer


def test_counts_of_today_outlive_a_restart(live_server, app_config) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    for n in range(3):
        api.call("POST", "/community/posts", anna, expect=201, json={"content": f"soup {n}"})
    live_server.stop()
    restarted = LiveServer(create_app(app_config))  # a new process on the same database
    try:
        api = Api(restarted)
        root = api.register_admin()
        stats = api.call("GET", "/realtime/stats", anna, expect=200).json()
        assert stats["events_published_today"] == 3 and stats["event_counts_source"] == "log"
        assert sum(stats["events_per_interval"].values()) == 3
        today = dt.datetime.now(dt.UTC).date().isoformat()
        assert stats["events_by_day"] == {f"{today}/NewCommunityPost": 3}
        body = api.call("GET", "/realtime/status/data", root, expect=200).json()
        assert body["events_published_today"] == 3
        assert body["events_by_day"] == {today: {"NewCommunityPost": 3}}
    finally:
        restarted.stop()


@pytest.mark.realtime_config(REALTIME_RETENTION_SECONDS=86400.0)
def test_the_per_day_table_outlives_the_pruning_of_the_log(app) -> None:
    state = app.extensions["realtime"]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    two, ten = now - dt.timedelta(days=2), now - dt.timedelta(days=10)
    rows = [("NewCommunityPost", two), ("NewCommunityPost", two), ("PostLiked", two), ("GoalAchieved", ten)]
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(insert(state.tables["events"]), [
            {"type": t, "channel": "community", "data": {}, "ts": "x", "created_at": at} for t, at in rows])
    with app.app_context():
        assert state.prune() == 4  # older than a day: all of them leave the log
    two_days_ago = (now - dt.timedelta(days=2)).date().isoformat()
    counts = state.cluster_snapshot()["events_by_day"]
    assert counts == {f"{two_days_ago}/NewCommunityPost": 2, f"{two_days_ago}/PostLiked": 1}
    with app.app_context():
        assert state.prune() == 0 and state.counts.roll_up() == 0  # each day is rolled up once
