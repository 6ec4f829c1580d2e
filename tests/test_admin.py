"""Admin routes: notifications and account management, with their signals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from itcook.extensions import db
from itcook.models import Comment, Follow, FridgeItem, Goal, Like, Post, Recipe, RecipeJob, User

API = "/api/v1/admin"
COMMUNITY = "/api/v1/community"


@pytest.fixture
def root(app, auth) -> dict[str, Any]:
    return auth.admin(app, "root")


@pytest.fixture
def anna(auth) -> dict[str, Any]:
    return auth.register("anna", display_name="Anna K")


@pytest.fixture
def bob(auth) -> dict[str, Any]:
    return auth.register("bob")


def _count(app, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _is_active(app, user_id: int) -> bool:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return user.is_active


# --- who may call ----------------------------------------------------------------------------

ROUTES = [("post", "/notifications"), ("get", "/users"), ("post", "/users/{id}/disable"),
          ("post", "/users/{id}/enable"), ("delete", "/users/{id}")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_needs_a_token(client, signals, anna, method, path) -> None:
    response = getattr(client, method)(API + path.format(id=anna["user"]["id"]),
                                       json={"title": "t", "message": "m"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"
    assert signals.calls == []


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_is_forbidden_to_normal_users(app, client, signals, anna, bob, method, path) -> None:
    response = getattr(client, method)(API + path.format(id=bob["user"]["id"]),
                                       json={"title": "t", "message": "m"}, headers=anna["headers"])
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert signals.calls == []
    assert _is_active(app, bob["user"]["id"])


# --- notifications ---------------------------------------------------------------------------

def test_broadcast_notification_defaults_to_info(client, signals, root) -> None:
    response = client.post(f"{API}/notifications", json={"title": " Maintenance ", "message": "at 22:00"},
                           headers=root["headers"])
    assert response.status_code == 201
    expected = {"title": "Maintenance", "message": "at 22:00", "level": "info", "user_id": None}
    assert response.get_json() == expected
    assert signals.named("system-notification") == [expected]
    assert len(signals.calls) == 1


@pytest.mark.parametrize("level", ["info", "success", "warning", "error"])
def test_personal_notification_with_each_level(client, signals, root, anna, level) -> None:
    body = {"title": "Hello", "message": "Welcome back", "level": level, "user_id": anna["user"]["id"]}
    response = client.post(f"{API}/notifications", json=body, headers=root["headers"])
    assert response.status_code == 201
    assert response.get_json() == body
    assert signals.named("system-notification") == [body]


def test_notification_limits_are_inclusive(client, root) -> None:
    body = {"title": "t" * 200, "message": "m" * 2000}
    assert client.post(f"{API}/notifications", json=body, headers=root["headers"]).status_code == 201


@pytest.mark.parametrize("body, code", [
    ({"message": "m"}, "missing_field"),
    ({"title": "t"}, "missing_field"),
    ({"title": "", "message": "m"}, "invalid_field"),
    ({"title": "   ", "message": "m"}, "invalid_field"),
    ({"title": "t" * 201, "message": "m"}, "invalid_field"),
    ({"title": "t", "message": "m" * 2001}, "invalid_field"),
    ({"title": 1, "message": "m"}, "invalid_field"),
    ({"title": "t", "message": ["m"]}, "invalid_field"),
    ({"title": "t", "message": "m", "level": "critical"}, "invalid_field"),
    ({"title": "t", "message": "m", "level": "INFO"}, "invalid_field"),
    ({"title": "t", "message": "m", "level": 3}, "invalid_field"),
    ({"title": "t", "message": "m", "user_id": "1"}, "invalid_field"),
    ({"title": "t", "message": "m", "user_id": 1.5}, "invalid_field"),
    ({"title": "t", "message": "m", "user_id": True}, "invalid_field"),
    ({"title": "t", "message": "m", "user_id": 0}, "invalid_field"),
    ({"title": "t", "message": "m", "user_id": -4}, "invalid_field"),
])
def test_notification_validation(client, signals, root, body, code) -> None:
    response = client.post(f"{API}/notifications", json=body, headers=root["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert signals.calls == []


def test_notification_to_unknown_user_is_404(client, signals, root) -> None:
    response = client.post(f"{API}/notifications", json={"title": "t", "message": "m", "user_id": 999},
                           headers=root["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert signals.calls == []


def test_notification_non_json_and_bad_json(client, signals, root) -> None:
    response = client.post(f"{API}/notifications", data="title=t", content_type="text/plain",
                           headers=root["headers"])
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    response = client.post(f"{API}/notifications", data="{", content_type="application/json",
                           headers=root["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    assert signals.calls == []


# --- listing ---------------------------------------------------------------------------------

def test_list_users_is_paginated_with_is_active(app, client, root, anna, bob) -> None:
    client.post(f"{API}/users/{bob['user']['id']}/disable", headers=root["headers"])
    listing = client.get(f"{API}/users", headers=root["headers"]).get_json()
    assert listing["total"] == 3 and listing["page"] == 1
    assert [(u["username"], u["is_active"], u["role"]) for u in listing["items"]] == [
        ("root", True, "admin"), ("anna", True, "user"), ("bob", False, "user")]
    assert "password_hash" not in listing["items"][0]
    page = client.get(f"{API}/users?per_page=2&page=2", headers=root["headers"]).get_json()
    assert [u["username"] for u in page["items"]] == ["bob"]
    bad = client.get(f"{API}/users?page=0", headers=root["headers"])
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_parameter"


# --- disable / enable ------------------------------------------------------------------------

def test_disable_signals_once_and_locks_the_user_out(app, client, signals, root, anna) -> None:
    url = f"{API}/users/{anna['user']['id']}/disable"
    first = client.post(url, headers=root["headers"])
    again = client.post(url, headers=root["headers"])
    assert first.status_code == again.status_code == 200
    body = first.get_json()
    assert body == {**anna["user"], "is_active": False}
    assert again.get_json() == body
    assert signals.named("user-deactivated") == [{"user_id": anna["user"]["id"], "reason": "disabled"}]
    assert len(signals.calls) == 1
    me = client.get("/api/v1/auth/me", headers=anna["headers"])
    assert me.status_code == 401 and me.get_json()["error"]["code"] == "user_inactive"


def test_enable_restores_the_account_without_signal_but_not_its_old_tokens(app, client, signals, root,
                                                                         anna) -> None:
    client.post(f"{API}/users/{anna['user']['id']}/disable", headers=root["headers"])
    signals.calls.clear()
    response = client.post(f"{API}/users/{anna['user']['id']}/enable", headers=root["headers"])
    assert response.status_code == 200 and response.get_json()["is_active"] is True
    assert client.post(f"{API}/users/{anna['user']['id']}/enable", headers=root["headers"]).status_code == 200
    assert signals.calls == []
    me = client.get("/api/v1/auth/me", headers=anna["headers"])
    assert me.status_code == 401 and me.get_json()["error"]["code"] == "token_revoked"
    login = client.post("/api/v1/auth/login", json={"username": "anna", "password": "secret123"})
    fresh = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 200


@pytest.mark.parametrize("method, path", [("post", "/users/{id}/disable"), ("delete", "/users/{id}")])
def test_admin_cannot_disable_or_delete_themself(app, client, signals, root, method, path) -> None:
    response = getattr(client, method)(API + path.format(id=root["user"]["id"]), headers=root["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "cannot_modify_self"
    assert signals.calls == [] and _is_active(app, root["user"]["id"])


def test_admin_may_enable_themself_as_a_no_op(client, signals, root) -> None:
    response = client.post(f"{API}/users/{root['user']['id']}/enable", headers=root["headers"])
    assert response.status_code == 200 and response.get_json()["is_active"] is True
    assert signals.calls == []


@pytest.mark.parametrize("method, path", [("post", "/users/999/disable"), ("post", "/users/999/enable"),
                                          ("delete", "/users/999")])
def test_unknown_user_is_404(client, signals, root, method, path) -> None:
    response = getattr(client, method)(API + path, headers=root["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert signals.calls == []


# --- delete ----------------------------------------------------------------------------------

def test_delete_removes_everything_of_the_user_and_fixes_counters(app, client, signals, root,
                                                                   anna, bob) -> None:
    anna_id, bob_id = anna["user"]["id"], bob["user"]["id"]
    bob_post = client.post(f"{COMMUNITY}/posts", json={"content": "bob's"}, headers=bob["headers"]).get_json()
    anna_post = client.post(f"{COMMUNITY}/posts", json={"content": "anna's"},
                            headers=anna["headers"]).get_json()
    for user in (anna, bob):
        client.post(f"{COMMUNITY}/posts/{bob_post['id']}/like", headers=user["headers"])
        client.post(f"{COMMUNITY}/posts/{anna_post['id']}/like", headers=user["headers"])
    for content in ("one", "two"):
        client.post(f"{COMMUNITY}/posts/{bob_post['id']}/comments", json={"content": content},
                    headers=anna["headers"])
    client.post(f"{COMMUNITY}/posts/{bob_post['id']}/comments", json={"content": "mine"},
                headers=bob["headers"])
    client.post(f"{COMMUNITY}/posts/{anna_post['id']}/comments", json={"content": "hi"},
                headers=bob["headers"])
    client.post(f"{COMMUNITY}/users/{bob_id}/follow", headers=anna["headers"])
    client.post(f"{COMMUNITY}/users/{anna_id}/follow", headers=bob["headers"])
    with app.app_context():
        recipe = Recipe(user_id=anna_id, title="Soup", ingredients=[], steps=[], generator="local")
        db.session.add_all([recipe, FridgeItem(user_id=anna_id, name="milk", expires_on=dt.date.today()),
                            Goal(user_id=anna_id, title="Cook", target_value=3)])
        db.session.flush()
        db.session.add(RecipeJob(id="job-1", user_id=anna_id, ingredients=[], recipe_id=recipe.id))
        db.session.commit()
    signals.calls.clear()

    response = client.delete(f"{API}/users/{anna_id}", headers=root["headers"])
    assert response.status_code == 204 and response.data == b""
    assert signals.named("user-deactivated") == [{"user_id": anna_id, "reason": "deleted"}]
    assert len(signals.calls) == 1

    with app.app_context():
        assert db.session.get(User, anna_id) is None
        assert db.session.get(Post, anna_post["id"]) is None
        remaining = db.session.get(Post, bob_post["id"])
        assert (remaining.likes_count, remaining.comments_count) == (1, 1)
    assert _count(app, Post) == 1
    assert _count(app, Like) == 1 and _count(app, Comment) == 1 and _count(app, Follow) == 0
    for model in (FridgeItem, Goal, Recipe, RecipeJob):
        assert _count(app, model) == 0
    assert client.get("/api/v1/auth/me", headers=anna["headers"]).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bob["headers"]).status_code == 200
    profile = client.get(f"{COMMUNITY}/users/{bob_id}", headers=bob["headers"]).get_json()
    assert (profile["followers_count"], profile["following_count"]) == (0, 0)

    again = client.delete(f"{API}/users/{anna_id}", headers=root["headers"])
    assert again.status_code == 404 and len(signals.calls) == 1


def test_deleting_a_disabled_user_still_signals_deleted(client, signals, root, anna) -> None:
    client.post(f"{API}/users/{anna['user']['id']}/disable", headers=root["headers"])
    assert client.delete(f"{API}/users/{anna['user']['id']}", headers=root["headers"]).status_code == 204
    assert signals.named("user-deactivated") == [
        {"user_id": anna["user"]["id"], "reason": "disabled"},
        {"user_id": anna["user"]["id"], "reason": "deleted"},
    ]
