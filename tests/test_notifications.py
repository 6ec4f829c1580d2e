"""The notification inbox: personal events filed per user, listed, counted and marked read."""

from __future__ import annotations

import pytest

from itcook.realtime.events import Event


def _follow(client, follower, followed) -> None:
    assert client.post(f"/api/v1/community/users/{followed['user']['id']}/follow",
                       headers=follower["headers"]).status_code == 201


def _inbox(client, user, query: str = "") -> dict:
    response = client.get(f"/api/v1/notifications{query}", headers=user["headers"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _three_notifications(client, auth) -> tuple[dict, list[int]]:
    anna = auth.register("anna")
    for name in ("boris", "carol", "dima"):
        _follow(client, auth.register(name), anna)
    ids = [item["id"] for item in _inbox(client, anna)["items"]]
    return anna, ids


def test_personal_events_are_filed_newest_first_with_their_text(app, client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    post = client.post("/api/v1/community/posts", json={"content": "Borscht"}, headers=anna["headers"])
    client.post(f"/api/v1/community/posts/{post.get_json()['id']}/like", headers=boris["headers"])
    _follow(client, boris, anna)
    inbox = _inbox(client, anna)
    assert inbox["total"] == 2 and inbox["unread_count"] == 2
    follow, like = inbox["items"]
    assert follow["type"] == "NewFollower" and like["type"] == "PostLiked" and follow["id"] > like["id"]
    assert follow["title"] == "New follower" and follow["body"] == "boris follows you now"
    assert follow["data"] == {"follower_id": boris["user"]["id"], "follower_name": "boris"}
    assert follow["read"] is False and follow["read_at"] is None and follow["created_at"].endswith("Z")
    # Other users' events, community and system broadcasts are not in anna's inbox.
    assert _inbox(client, boris)["items"] == []


def test_a_notification_links_to_what_it_is_about(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    post = client.post("/api/v1/community/posts", json={"content": "Borscht"}, headers=anna["headers"])
    client.post(f"/api/v1/community/posts/{post.get_json()['id']}/like", headers=boris["headers"])
    _follow(client, boris, anna)
    follow, like = _inbox(client, anna)["items"]
    assert follow["link"] == f"/#user-{boris['user']['id']}"
    assert like["link"] == f"/#post-{post.get_json()['id']}"


def test_a_link_whose_data_is_missing_is_the_page_without_its_anchor() -> None:
    from itcook.notifications.texts import link

    assert link("PostLiked", {"post_id": 7}) == "/#post-7"
    assert link("PostLiked", {}) == "/" and link("NoSuchType", {"post_id": 7}) == "/"


def test_a_notification_id_is_the_id_of_its_event(app, client, auth) -> None:
    anna = auth.register("anna")
    with app.app_context():
        event = app.extensions["realtime"].publish_event(Event(
            type="SystemNotification", channel=f"user:{anna['user']['id']}",
            data={"title": "Hi", "message": "there", "level": "info"}))
    [item] = _inbox(client, anna)["items"]
    assert item["id"] == event.id and item["title"] == "Hi" and item["body"] == "there"


def test_unread_filter_pagination_and_count(app, client, auth) -> None:
    anna, ids = _three_notifications(client, auth)
    client.post("/api/v1/notifications/read", json={"ids": [ids[1]]}, headers=anna["headers"])
    unread = _inbox(client, anna, "?unread=true")
    assert [item["id"] for item in unread["items"]] == [ids[0], ids[2]] and unread["total"] == 2
    page = _inbox(client, anna, "?per_page=2&page=2")
    assert [item["id"] for item in page["items"]] == [ids[2]] and page["total"] == 3
    assert _inbox(client, anna, "?unread=false")["total"] == 3
    count = client.get("/api/v1/notifications/unread-count", headers=anna["headers"])
    assert count.get_json() == {"unread_count": 2}


def test_mark_read_by_ids_is_idempotent_and_ignores_other_users_ids(app, client, auth, signals) -> None:
    anna, ids = _three_notifications(client, auth)
    boris = auth.register("eve")
    _follow(client, anna, boris)
    eves = _inbox(client, boris)["items"][0]["id"]
    response = client.post("/api/v1/notifications/read", json={"ids": [ids[0], eves, 10**12]},
                           headers=anna["headers"])
    assert response.status_code == 200 and response.get_json() == {"marked": 1, "unread_count": 2}
    assert signals.named("notifications-read") == [
        {"user_id": anna["user"]["id"], "ids": [ids[0]], "up_to_id": None, "unread_count": 2}]
    again = client.post("/api/v1/notifications/read", json={"ids": [ids[0]]}, headers=anna["headers"])
    assert again.get_json() == {"marked": 0, "unread_count": 2}
    assert len(signals.named("notifications-read")) == 1  # nothing changed, nothing announced
    assert _inbox(client, boris)["unread_count"] == 1
    read = _inbox(client, anna)["items"][0]
    assert read["read"] is True and read["read_at"].endswith("Z")


def test_mark_read_up_to_an_id(app, client, auth, signals) -> None:
    anna, ids = _three_notifications(client, auth)  # newest first
    response = client.post("/api/v1/notifications/read", json={"up_to_id": ids[1]}, headers=anna["headers"])
    assert response.get_json() == {"marked": 2, "unread_count": 1}
    assert [item["read"] for item in _inbox(client, anna)["items"]] == [False, True, True]
    [sent] = signals.named("notifications-read")
    assert sent == {"user_id": anna["user"]["id"], "ids": None, "up_to_id": ids[1], "unread_count": 1}


def test_reading_is_announced_but_is_not_a_notification_itself(app, client, auth) -> None:
    anna, ids = _three_notifications(client, auth)
    client.post("/api/v1/notifications/read", json={"up_to_id": ids[0]}, headers=anna["headers"])
    inbox = _inbox(client, anna)
    assert inbox["total"] == 3 and inbox["unread_count"] == 0
    with app.app_context():
        history = app.extensions["realtime"].history
        [event] = history.replay([f"user:{anna['user']['id']}"], ids[0], 10)
    assert event.type == "NotificationsRead"
    assert event.data == {"ids": None, "up_to_id": ids[0], "unread_count": 0}


def test_a_deleted_users_inbox_goes_with_them(app, client, auth) -> None:
    root = auth.admin(app)
    anna, _ = _three_notifications(client, auth)
    response = client.delete(f"/api/v1/admin/users/{anna['user']['id']}", headers=root["headers"])
    assert response.status_code == 204
    with app.app_context():
        from itcook.extensions import db
        from itcook.models import Notification

        assert db.session.query(Notification).count() == 0


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "missing_field"),
    ({"ids": None, "up_to_id": None}, 400, "missing_field"),
    ({"ids": [1], "up_to_id": 3}, 400, "invalid_field"),
    ({"ids": []}, 400, "invalid_field"),
    ({"ids": [1, "2"]}, 400, "invalid_field"),
    ({"ids": [True]}, 400, "invalid_field"),
    ({"ids": [0]}, 400, "invalid_field"),
    ({"ids": list(range(1, 102))}, 400, "invalid_field"),
    ({"ids": 5}, 400, "invalid_field"),
    ({"up_to_id": 1.5}, 400, "invalid_field"),
    ({"up_to_id": 0}, 400, "invalid_field"),
    ({"up_to_id": 2**63}, 400, "invalid_field"),
])
def test_bad_read_requests_are_refused(app, client, auth, signals, body, status, code) -> None:
    anna, _ = _three_notifications(client, auth)
    response = client.post("/api/v1/notifications/read", json=body, headers=anna["headers"])
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert _inbox(client, anna)["unread_count"] == 3 and signals.named("notifications-read") == []


def test_bad_query_and_missing_token(client, auth) -> None:
    anna = auth.register("anna")
    response = client.get("/api/v1/notifications?unread=maybe", headers=anna["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post("/api/v1/notifications/read", data="x", headers=anna["headers"]).status_code == 415
