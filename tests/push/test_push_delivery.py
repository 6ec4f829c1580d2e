"""Web Push for real: the encrypted request reaches a push service on loopback, which checks the
VAPID token and decrypts the payload with the subscription's own keys."""

from __future__ import annotations

import socket

import pytest

from itcook.extensions import db
from itcook.models import PushSubscription
from itcook.push import Job
from tests.support.push import PushService, Subscriber, browser_subscription
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


def _subscribe(client, user, push_service) -> dict:
    sub = push_service.subscribe()
    response = client.post("/api/v1/push/subscriptions", json=sub, headers=user["headers"])
    assert response.status_code == 201, response.get_json()
    return sub


def _follow(client, follower, followed) -> None:
    response = client.post(f"/api/v1/community/users/{followed['user']['id']}/follow",
                           headers=follower["headers"])
    assert response.status_code == 201


def _subscriptions(app) -> int:
    with app.app_context():
        return db.session.query(PushSubscription).count()


def test_a_personal_event_is_pushed_encrypted_to_every_subscription(app, client, auth, push_service,
                                                                      sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    phone, laptop = _subscribe(client, anna, push_service), _subscribe(client, anna, push_service)
    _follow(client, boris, anna)
    wait_for(lambda: len(push_service.received) == 2 and sender.idle(), what="two pushes")
    note = client.get("/api/v1/notifications", headers=anna["headers"]).get_json()["items"][0]
    for sub in (phone, laptop):
        [received] = push_service.to(sub)
        assert received.error is None and received.status == 201
        assert received.payload == {"title": "New follower", "body": "boris follows you now",
                                    "type": "NewFollower", "id": note["id"],
                                    "tag": f"itcook-{note['id']}",
                                    "url": f"/#user-{boris['user']['id']}"}  # the follower
        assert received.claims["sub"] == "mailto:push-tests@itcook.example"
        assert received.headers["ttl"] == "86400" and received.headers["urgency"] == "normal"
    assert sender.counters["sent"] == 2


def test_a_push_is_in_the_users_language_or_their_latest_requests(app, client, auth, push_service,
                                                                   sender) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    client.patch("/api/v1/auth/me", json={"language": "ru"}, headers=anna["headers"])  # the setting
    client.get("/api/v1/auth/me", headers={**carol["headers"], "Accept-Language": "ru-RU"})  # the browser
    anna_sub, carol_sub = _subscribe(client, anna, push_service), _subscribe(client, carol, push_service)
    _follow(client, boris, anna)
    _follow(client, boris, carol)
    wait_for(lambda: len(push_service.received) == 2 and sender.idle(), what="two pushes")
    for sub in (anna_sub, carol_sub):
        [received] = push_service.to(sub)
        assert received.payload["type"] == "NewFollower"  # the type, never translated
        assert (received.payload["title"], received.payload["body"]) == (
            "Новый подписчик", "boris теперь подписан(а) на вас")


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_removed(app, client, auth, push_service, sender, status) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    gone, kept = _subscribe(client, anna, push_service), _subscribe(client, anna, push_service)
    push_service.answer(gone, status)
    _follow(client, boris, anna)
    wait_for(lambda: len(push_service.received) == 2 and sender.idle(), what="pushes")
    assert [r.status for r in push_service.to(gone)] == [status]  # not retried
    assert sender.counters["expired"] == 1
    items = client.get("/api/v1/push/subscriptions", headers=anna["headers"]).get_json()["items"]
    assert [s["endpoint"] for s in items] == [kept["endpoint"]]


def test_server_errors_are_retried_with_backoff_until_delivered(app, client, auth, push_service,
                                                                sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = _subscribe(client, anna, push_service)
    push_service.answer(sub, 500, 503)
    _follow(client, boris, anna)
    wait_for(lambda: len(push_service.to(sub)) == 3 and sender.idle(), what="three tries")
    received = push_service.to(sub)
    assert [r.status for r in received] == [500, 503, 201]
    assert all(r.error is None for r in received)
    # Each try is encrypted anew (a fresh salt and sender key), with the same content.
    assert len({r.payload["id"] for r in received}) == 1
    assert (sender.counters["retried"], sender.counters["sent"]) == (2, 1)
    assert _subscriptions(app) == 1


def test_retries_end_after_max_attempts_and_keep_the_subscription(app, client, auth, push_service,
                                                                  sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = _subscribe(client, anna, push_service)
    push_service.answer(sub, 500, 429, 502, 500)
    _follow(client, boris, anna)
    wait_for(lambda: sender.counters["failed"] == 1 and sender.idle(), what="giving up")
    assert [r.status for r in push_service.to(sub)] == [500, 429, 502]  # PUSH_MAX_ATTEMPTS = 3
    assert _subscriptions(app) == 1


def test_a_refusal_that_retrying_cannot_fix_is_not_retried(app, client, auth, push_service, sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = _subscribe(client, anna, push_service)
    push_service.answer(sub, 413)
    _follow(client, boris, anna)
    wait_for(lambda: sender.counters["failed"] == 1 and sender.idle(), what="refusal")
    assert [r.status for r in push_service.to(sub)] == [413]


def test_an_unreachable_push_service_is_retried(app, client, auth, sender) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    anna, boris = auth.register("anna"), auth.register("boris")
    _, sub = browser_subscription(f"http://127.0.0.1:{port}")
    assert client.post("/api/v1/push/subscriptions", json=sub, headers=anna["headers"]).status_code == 201
    _follow(client, boris, anna)
    wait_for(lambda: sender.counters["failed"] == 1 and sender.idle(), what="giving up")
    assert sender.counters["retried"] == 2


def test_preferences_choose_what_is_pushed(app, client, auth, push_service, sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = _subscribe(client, anna, push_service)
    client.put("/api/v1/push/preferences", headers=anna["headers"],
               json={"event_types": {"NewFollower": False}})
    _follow(client, boris, anna)
    wait_for(lambda: sender.counters["skipped_preference"] == 1 and sender.idle(), what="skip")
    post = client.post("/api/v1/community/posts", headers=anna["headers"], json={"content": "Soup"})
    client.post(f"/api/v1/community/posts/{post.get_json()['id']}/like", headers=boris["headers"])
    wait_for(lambda: len(push_service.to(sub)) == 1 and sender.idle(), what="like pushed")
    assert [r.payload["type"] for r in push_service.to(sub)] == ["PostLiked"]


def test_reading_notifications_is_not_pushed(app, client, auth, push_service, sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = _subscribe(client, anna, push_service)
    _follow(client, boris, anna)
    wait_for(lambda: len(push_service.to(sub)) == 1 and sender.idle(), what="push")
    response = client.post("/api/v1/notifications/read", json={"up_to_id": 10**6}, headers=anna["headers"])
    assert response.get_json() == {"marked": 1, "unread_count": 0}
    client.post("/api/v1/community/posts", headers=boris["headers"], json={"content": "community"})
    assert sender.idle() and len(push_service.received) == 1  # NotificationsRead: no job at all


def test_a_user_with_a_live_connection_gets_no_push(live_server, push_service) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    sub = push_service.subscribe()
    api.call("POST", "/push/subscriptions", anna, expect=201, json=sub)
    sender = live_server.app.extensions["push"].sender
    ws = ws_connect(live_server, anna["access_token"])
    try:
        api.call("POST", f"/community/users/{anna['user']['id']}/follow", boris, expect=201)
        assert ws.recv_type("NewFollower")["data"]["follower_name"] == "boris"
        wait_for(lambda: sender.counters["skipped_online"] == 1 and sender.idle(), what="skip")
        assert push_service.received == []
    finally:
        ws.close()
    wait_for(lambda: not live_server.state.hub.connections, what="disconnect")
    post = api.call("POST", "/community/posts", anna, expect=201, json={"content": "Soup"}).json()
    api.call("POST", f"/community/posts/{post['id']}/like", boris, expect=201)
    wait_for(lambda: len(push_service.to(sub)) == 1 and sender.idle(), what="push once away")
    assert push_service.to(sub)[0].payload["type"] == "PostLiked"
    sender.stop()


def test_the_push_service_refuses_a_token_of_another_key(app, client, auth, sender) -> None:
    """The loopback service really checks VAPID: a server key it does not expect fails."""
    stranger = PushService(vapid_public_key=Subscriber("other").p256dh)  # another P-256 key
    try:
        anna, boris = auth.register("anna"), auth.register("boris")
        sub = _subscribe(client, anna, stranger)
        _follow(client, boris, anna)
        wait_for(lambda: sender.counters["failed"] == 1 and sender.idle(), what="refusal")
        [received] = stranger.to(sub)
        assert received.status == 400 and "not the application server's key" in received.error
    finally:
        stranger.stop()


@pytest.mark.realtime_config(PUSH_QUEUE_SIZE=2)
def test_a_full_queue_drops_instead_of_blocking(app, sender) -> None:
    jobs = [Job(1, i, "NewFollower", "t", "b") for i in range(5)]
    assert [sender.submit(job) for job in jobs] == [True, True, False, False, False]
    assert sender.counters["dropped"] == 3


def test_no_job_for_a_user_without_subscriptions(app, client, auth, sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    _follow(client, boris, anna)
    assert client.get("/api/v1/notifications", headers=anna["headers"]).get_json()["total"] == 1
    assert sender.queue.empty() and not sender.counters  # nothing queued, not even a skip
