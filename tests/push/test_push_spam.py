"""Notification spam by toggling: one notification (and push) a day per (actor, recipient, kind,
object), and a per-recipient hourly push budget shared by every process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from itcook import create_app
from itcook.extensions import db
from itcook.push import services
from tests.support.waiting import wait_for

TOGGLES = 20


def _call(client, method: str, path: str, user, expect: tuple[int, ...], **kwargs) -> dict:
    response = client.open(f"/api/v1{path}", method=method, headers=user["headers"], **kwargs)
    assert response.status_code in expect, response.get_json()
    return response.get_json() if response.data else {}


def _toggle_follow(client, attacker, victim, times: int) -> None:
    path = f"/community/users/{victim['user']['id']}/follow"
    for _ in range(times):
        _call(client, "POST", path, attacker, (201,))
        _call(client, "DELETE", path, attacker, (200,))


def _toggle_invite(client, attacker, victim, times: int) -> None:
    group = _call(client, "POST", "/groups", attacker, (201,),
                  json={"name": "FREE PRIZES — click https://evil.example now"})
    for _ in range(times):
        _call(client, "POST", f"/groups/{group['id']}/invites", attacker, (201,),
              json={"user_id": victim["user"]["id"]})
        _call(client, "DELETE", f"/groups/{group['id']}/invites/{victim['user']['id']}", attacker, (204,))


def _toggle_like(client, attacker, victim, times: int) -> None:
    posts = _call(client, "GET", f"/community/posts?author_id={victim['user']['id']}", victim, (200,))
    post = posts["items"][0] if posts["items"] else _call(client, "POST", "/community/posts", victim,
                                                          (201,), json={"content": "soup"})
    for _ in range(times):
        _call(client, "POST", f"/community/posts/{post['id']}/like", attacker, (200, 201))
        _call(client, "DELETE", f"/community/posts/{post['id']}/like", attacker, (200, 204))


def _subscribe(client, user, push_service) -> dict:
    sub = push_service.subscribe()
    _call(client, "POST", "/push/subscriptions", user, (201,), json=sub)
    return sub


def _notifications(client, user) -> list[dict]:
    return _call(client, "GET", "/notifications?per_page=100", user, (200,))["items"]


@pytest.mark.parametrize(("toggle", "kind"), [(_toggle_follow, "NewFollower"),
                                              (_toggle_invite, "GroupInvitation"),
                                              (_toggle_like, "PostLiked")])
def test_toggling_files_one_notification_and_one_push(app, client, auth, push_service, sender,
                                                      toggle: Callable, kind: str) -> None:
    victim, attacker, other = auth.register("anna"), auth.register("mallory"), auth.register("carol")
    sub = _subscribe(client, victim, push_service)
    toggle(client, attacker, victim, TOGGLES)
    toggle(client, other, victim, 1)  # another actor (and for a group, another object) still counts
    wait_for(lambda: len(push_service.received) >= 2 and sender.idle(), what="the pushes")
    assert [n["type"] for n in _notifications(client, victim)] == [kind, kind]
    assert _call(client, "GET", "/notifications/unread-count", victim, (200,)) == {"unread_count": 2}
    assert len(push_service.to(sub)) == 2 and sender.counters["sent"] == 2


@pytest.mark.realtime_config(PUSH_BUDGET_PER_HOUR=3)
def test_pushes_past_the_hourly_budget_are_dropped_and_counted(app, client, auth, push_service,
                                                               sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = _subscribe(client, anna, push_service)
    for i in range(5):  # five distinct groups: five notifications, none a duplicate
        group = _call(client, "POST", "/groups", boris, (201,), json={"name": f"club {i}"})
        _call(client, "POST", f"/groups/{group['id']}/invites", boris, (201,),
              json={"user_id": anna["user"]["id"]})
    wait_for(lambda: sender.counters["over_budget"] == 2 and sender.idle(), what="the budget")
    assert len(_notifications(client, anna)) == 5  # the inbox keeps them all
    assert len(push_service.to(sub)) == 3 and sender.counters["sent"] == 3


def test_the_budget_is_shared_by_every_process(app, app_config, auth) -> None:
    anna = auth.register("anna")
    other = create_app(app_config)  # another worker on the same database
    try:
        with app.app_context():
            assert [services.take_budget(anna["user"]["id"], 3) for _ in range(2)] == [True, True]
        with other.app_context():
            assert [services.take_budget(anna["user"]["id"], 3) for _ in range(2)] == [True, False]
        with app.app_context():
            assert services.take_budget(anna["user"]["id"], 3) is False
            assert services.take_budget(anna["user"]["id"], 0) is True  # 0: no limit
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
