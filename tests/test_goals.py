"""Goal routes and the exactly-once GoalAchieved signal."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

from itcook.extensions import db
from itcook.goals.services import add_progress
from itcook.models import Goal
from itcook.signals import goal_achieved

URL = "/api/v1/goals"


def create(client, headers, title: str = "Run", target: float = 10, **extra: Any) -> dict[str, Any]:
    response = client.post(URL, json={"title": title, "target_value": target, **extra},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def progress(client, headers, goal_id: int, value: Any) -> Any:
    return client.post(f"{URL}/{goal_id}/progress", json={"value": value}, headers=headers)


def goal_count(app) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Goal))


# --- create, list, show -----------------------------------------------------------------------

def test_create_goal(client, auth) -> None:
    anna = auth.register("anna")
    response = client.post(URL, json={"title": " Run 100 km ", "target_value": 100, "unit": "km"},
                           headers=anna["headers"])
    assert response.status_code == 201
    goal = response.get_json()
    assert set(goal) == {"id", "title", "target_value", "current_value", "unit", "achieved",
                         "achieved_at", "created_at"}
    assert goal["title"] == "Run 100 km" and goal["target_value"] == 100 and goal["unit"] == "km"
    assert goal["current_value"] == 0 and goal["achieved"] is False and goal["achieved_at"] is None
    assert goal["created_at"].endswith("Z")
    assert create(client, anna["headers"], "Read", 0.5)["unit"] is None


@pytest.mark.parametrize("body, code", [
    ({"target_value": 10}, "missing_field"),
    ({"title": "", "target_value": 10}, "invalid_field"),
    ({"title": "   ", "target_value": 10}, "invalid_field"),
    ({"title": "t" * 201, "target_value": 10}, "invalid_field"),
    ({"title": ["Run"], "target_value": 10}, "invalid_field"),
    ({"title": "Run"}, "missing_field"),
    ({"title": "Run", "target_value": None}, "missing_field"),
    ({"title": "Run", "target_value": 0}, "invalid_field"),
    ({"title": "Run", "target_value": -5}, "invalid_field"),
    ({"title": "Run", "target_value": "10"}, "invalid_field"),
    ({"title": "Run", "target_value": False}, "invalid_field"),
    ({"title": "Run", "target_value": 2e9}, "invalid_field"),
    ({"title": "Run", "target_value": 10, "unit": ""}, "invalid_field"),
    ({"title": "Run", "target_value": 10, "unit": "u" * 21}, "invalid_field"),
    ({"title": "Run", "target_value": 10, "unit": 1}, "invalid_field"),
])
def test_create_goal_validation(app, client, auth, body, code) -> None:
    headers = auth.register("anna")["headers"]
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert goal_count(app) == 0


def test_create_goal_needs_a_json_object(client, auth) -> None:
    headers = auth.register("anna")["headers"]
    assert client.post(URL, data="x", content_type="text/plain", headers=headers).status_code == 415
    response = client.post(URL, data="{", content_type="application/json", headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("method, path", [
    ("post", ""), ("get", ""), ("get", "/1"), ("post", "/1/progress"),
])
def test_routes_need_a_token(client, method, path) -> None:
    response = getattr(client, method)(URL + path, json={"value": 1})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"


def test_list_is_own_goals_newest_first_and_paginated(client, auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    first = create(client, anna["headers"], "first")
    second = create(client, anna["headers"], "second")
    third = create(client, anna["headers"], "third")
    create(client, bob["headers"], "bob's")
    body = client.get(URL, headers=anna["headers"]).get_json()
    assert [g["id"] for g in body["items"]] == [third["id"], second["id"], first["id"]]
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 3)
    page = client.get(f"{URL}?per_page=2&page=2", headers=anna["headers"]).get_json()
    assert [g["id"] for g in page["items"]] == [first["id"]]
    response = client.get(f"{URL}?per_page=1000", headers=anna["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_show_goal_and_404s(client, auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    goal = create(client, anna["headers"])
    assert client.get(f"{URL}/{goal['id']}", headers=anna["headers"]).get_json() == goal
    for goal_id in (goal["id"], goal["id"] + 100, 2**40):
        response = client.get(f"{URL}/{goal_id}", headers=bob["headers"])
        assert response.status_code == 404, goal_id
        assert response.get_json()["error"]["code"] == "not_found"


# --- progress and achievement -----------------------------------------------------------------

def test_progress_accumulates_and_achieves_once(client, auth, signals) -> None:
    anna = auth.register("anna")
    goal = create(client, anna["headers"], "Run", 10, unit="km")
    response = progress(client, anna["headers"], goal["id"], 4)
    assert response.status_code == 200
    body = response.get_json()
    assert body["current_value"] == 4 and body["achieved"] is False and body["achieved_at"] is None
    assert signals.named("goal-achieved") == []

    body = progress(client, anna["headers"], goal["id"], 6).get_json()
    assert body["current_value"] == 10 and body["achieved"] is True
    assert body["achieved_at"].endswith("Z")
    assert signals.named("goal-achieved") == [{
        "user_id": anna["user"]["id"], "goal_id": goal["id"], "title": "Run",
        "target_value": 10.0, "unit": "km",
    }]

    # Progress after achievement still counts, but the goal is achieved only once.
    after = progress(client, anna["headers"], goal["id"], 5)
    assert after.status_code == 200
    assert after.get_json()["current_value"] == 15
    assert after.get_json()["achieved_at"] == body["achieved_at"]
    assert len(signals.named("goal-achieved")) == 1
    assert signals.calls == signals.calls[:1]  # no other signal either


def test_crossing_the_target_in_one_step(client, auth, signals) -> None:
    anna = auth.register("anna")
    goal = create(client, anna["headers"], "Read", 3)
    body = progress(client, anna["headers"], goal["id"], 250.5).get_json()
    assert body["current_value"] == 250.5 and body["achieved"] is True
    assert [c["goal_id"] for c in signals.named("goal-achieved")] == [goal["id"]]
    assert signals.named("goal-achieved")[0]["unit"] is None


@pytest.mark.parametrize("value, code", [
    (0, "invalid_field"), (-1, "invalid_field"), ("5", "invalid_field"), (True, "invalid_field"),
    (1e9 + 1, "invalid_field"), (None, "missing_field"),
])
def test_progress_validation(app, client, auth, signals, value, code) -> None:
    anna = auth.register("anna")
    goal = create(client, anna["headers"], target=1)
    response = progress(client, anna["headers"], goal["id"], value)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert client.get(f"{URL}/{goal['id']}", headers=anna["headers"]).get_json() == goal
    assert signals.calls == []


def test_progress_body_problems(client, auth) -> None:
    anna = auth.register("anna")
    goal = create(client, anna["headers"])
    path = f"{URL}/{goal['id']}/progress"
    assert client.post(path, headers=anna["headers"]).status_code == 415
    response = client.post(path, json={}, headers=anna["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "missing_field"
    response = client.post(path, json=[5], headers=anna["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


def test_progress_on_another_users_goal_is_404(client, auth, signals) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    goal = create(client, anna["headers"], target=1)
    for goal_id in (goal["id"], goal["id"] + 100, 2**40):
        response = progress(client, bob["headers"], goal_id, 5)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert client.get(f"{URL}/{goal['id']}", headers=anna["headers"]).get_json()["current_value"] == 0
    assert signals.calls == []


def test_signal_is_sent_inside_the_transaction(app, client, auth) -> None:
    anna = auth.register("anna")
    goal = create(client, anna["headers"], target=2)
    seen: list[Any] = []

    def receiver(sender, **kwargs) -> None:
        # A separate connection does not see the achievement yet: the event joins its commit.
        with db.engine.connect() as conn:
            seen.append(conn.execute(db.select(Goal.current_value, Goal.achieved_at)
                                     .where(Goal.id == kwargs["goal_id"])).one())

    goal_achieved.connect(receiver, sender=app)
    try:
        progress(client, anna["headers"], goal["id"], 2)
    finally:
        goal_achieved.disconnect(receiver, sender=app)
    assert len(seen) == 1 and seen[0][0] == 0 and seen[0][1] is None


def test_concurrent_progress_achieves_exactly_once(app, client, auth, signals) -> None:
    """Two requests that both read the goal before either updates it: one signal only."""
    anna = auth.register("anna")
    user_id = anna["user"]["id"]
    goal = create(client, anna["headers"], target=10)
    progress(client, anna["headers"], goal["id"], 9)
    with app.app_context():
        # The first request's session loads the goal (below target) and stays open...
        stale = db.session.get(Goal, goal["id"])
        assert stale.current_value == 9 and stale.achieved_at is None
        # ...while a second request, in its own app context and session, reaches the target.
        with app.app_context():
            assert add_progress(user_id, goal["id"], 1).achieved_at is not None
        # The first one's updates re-check the database, not its stale copy.
        done = add_progress(user_id, goal["id"], 1)
        assert done.current_value == 11
    assert len(signals.named("goal-achieved")) == 1


def test_many_parallel_progress_requests(client, auth, signals) -> None:
    """Greenlets posting at once: no increment is lost and the goal is achieved once."""
    anna = auth.register("anna")
    goal = create(client, anna["headers"], target=5)
    workers = [gevent.spawn(progress, client, anna["headers"], goal["id"], 1) for _ in range(10)]
    gevent.joinall(workers, timeout=30)
    assert all(w.dead and w.successful() for w in workers)
    assert [w.value.status_code for w in workers] == [200] * 10
    body = client.get(f"{URL}/{goal['id']}", headers=anna["headers"]).get_json()
    assert body["current_value"] == 10 and body["achieved"] is True
    assert len(signals.named("goal-achieved")) == 1
