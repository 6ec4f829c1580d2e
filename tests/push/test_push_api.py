"""The Web Push REST routes: the VAPID key, strict subscription checks, preferences."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from itcook.extensions import db
from itcook.models import PushSubscription
from itcook.push.vapid import load_vapid, public_key
from tests.support.push import VAPID_PUBLIC, b64url, subscription_json
from tests.support.rest import Api
from tests.support.waiting import concurrently


def test_vapid_public_key_is_the_configured_one_and_needs_no_token(client) -> None:
    response = client.get("/api/v1/push/vapid-public-key")
    assert response.status_code == 200
    assert response.get_json() == {"public_key": VAPID_PUBLIC}


def test_vapid_key_is_generated_once_and_kept(tmp_path) -> None:
    first = load_vapid("", str(tmp_path), production=False)
    second = load_vapid("", str(tmp_path), production=False)
    assert first is not None and second is not None
    assert public_key(first) == public_key(second)
    assert (tmp_path / "vapid-private.pem").stat().st_mode & 0o077 == 0
    assert load_vapid("", str(tmp_path / "other"), production=True) is None  # production: off


def test_bad_configured_vapid_key_stops_the_start(tmp_path) -> None:
    from itcook import create_app

    with pytest.raises(RuntimeError, match="ITCOOK_PUSH_VAPID_PRIVATE_KEY"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "JWT_SECRET": "s" * 40,
                    "PUSH_VAPID_PRIVATE_KEY": "not-a-key"})


def test_production_without_a_key_answers_503(tmp_path) -> None:
    from itcook import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "JWT_SECRET": "s" * 40,
                      "ENV": "production", "PUSH_VAPID_PRIVATE_KEY": ""})
    response = app.test_client().get("/api/v1/push/vapid-public-key")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "push_not_configured"


def test_subscribe_list_resubscribe_and_unsubscribe(app, client, auth) -> None:
    anna = auth.register("anna")
    sub = subscription_json()
    created = client.post("/api/v1/push/subscriptions", json=sub, headers=anna["headers"])
    assert created.status_code == 201
    assert created.get_json()["endpoint"] == sub["endpoint"] and "keys" not in created.get_json()
    again = client.post("/api/v1/push/subscriptions", json=sub, headers=anna["headers"])
    assert again.status_code == 200 and again.get_json()["id"] == created.get_json()["id"]
    listed = client.get("/api/v1/push/subscriptions", headers=anna["headers"]).get_json()
    assert [s["endpoint"] for s in listed["items"]] == [sub["endpoint"]]
    gone = client.delete("/api/v1/push/subscriptions", json={"endpoint": sub["endpoint"]},
                         headers=anna["headers"])
    assert gone.status_code == 204
    assert client.get("/api/v1/push/subscriptions", headers=anna["headers"]).get_json()["items"] == []
    # Idempotent.
    assert client.delete("/api/v1/push/subscriptions", json={"endpoint": sub["endpoint"]},
                         headers=anna["headers"]).status_code == 204


def test_an_endpoint_follows_the_user_who_logs_in_on_that_browser(app, client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = subscription_json()
    client.post("/api/v1/push/subscriptions", json=sub, headers=anna["headers"])
    assert client.post("/api/v1/push/subscriptions", json=sub, headers=boris["headers"]).status_code == 200
    assert client.get("/api/v1/push/subscriptions", headers=anna["headers"]).get_json()["items"] == []
    assert len(client.get("/api/v1/push/subscriptions", headers=boris["headers"]).get_json()["items"]) == 1


def test_oldest_subscriptions_give_way_past_the_limit(app, client, auth) -> None:
    from itcook.push.services import MAX_PER_USER

    anna = auth.register("anna")
    endpoints = [f"https://push.example.net/send/{i}" for i in range(MAX_PER_USER + 2)]
    for endpoint in endpoints:
        client.post("/api/v1/push/subscriptions", json=subscription_json(endpoint), headers=anna["headers"])
    listed = client.get("/api/v1/push/subscriptions", headers=anna["headers"]).get_json()["items"]
    assert [s["endpoint"] for s in listed] == endpoints[2:]


def _with(path: str, value: object) -> dict:
    sub = subscription_json()
    if path.startswith("keys."):
        sub["keys"][path[5:]] = value
    else:
        sub[path] = value
    return sub


@pytest.mark.parametrize("body, code, field", [
    ({"keys": subscription_json()["keys"]}, "missing_field", "endpoint"),
    (_with("endpoint", 7), "invalid_field", "endpoint"),
    (_with("endpoint", "ftp://push.example.net/x"), "invalid_field", "endpoint"),
    pytest.param(_with("endpoint", "http://push.example.net/x"), "invalid_field", "endpoint",
                 marks=pytest.mark.realtime_config(PUSH_ALLOW_HTTP=False), id="plain-http"),
    (_with("endpoint", "https:///nohost"), "invalid_field", "endpoint"),
    (_with("endpoint", "https://user:pw@push.example.net/x"), "invalid_field", "endpoint"),
    (_with("endpoint", "https://push.example.net/" + "x" * 2100), "invalid_field", "endpoint"),
    (_with("keys", None), "missing_field", "keys"),
    (_with("keys", "p256dh"), "invalid_field", "keys"),
    (_with("keys.p256dh", None), "missing_field", "p256dh"),
    (_with("keys.p256dh", "not base64!"), "invalid_field", "keys.p256dh"),
    (_with("keys.p256dh", b64url(b"\x04" + b"\x01" * 64)), "invalid_field", "keys.p256dh"),  # off-curve
    (_with("keys.p256dh", b64url(b"\x04" * 33)), "invalid_field", "keys.p256dh"),  # wrong size
    (_with("keys.auth", b64url(b"short")), "invalid_field", "keys.auth"),
    (_with("keys.auth", 16), "invalid_field", "auth"),
    (_with("expirationTime", "soon"), "invalid_field", "expirationTime"),
    (_with("expirationTime", True), "invalid_field", "expirationTime"),
])
def test_subscriptions_are_checked_strictly(app, client, auth, body, code, field) -> None:
    anna = auth.register("anna")
    response = client.post("/api/v1/push/subscriptions", json=body, headers=anna["headers"])
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and field in error["message"]
    with app.app_context():
        from itcook.extensions import db

        assert db.session.query(PushSubscription).count() == 0


def test_subscription_routes_need_a_token(client) -> None:
    assert client.post("/api/v1/push/subscriptions", json=subscription_json()).status_code == 401
    assert client.get("/api/v1/push/preferences").status_code == 401


def test_preferences_default_to_every_type_and_change_per_type(client, auth) -> None:
    anna = auth.register("anna")
    prefs = client.get("/api/v1/push/preferences", headers=anna["headers"]).get_json()["event_types"]
    assert prefs["NewFollower"] is True and prefs["GroupInvitation"] is True and all(prefs.values())
    assert "NotificationsRead" not in prefs and "NewCommunityPost" not in prefs
    changed = client.put("/api/v1/push/preferences", headers=anna["headers"],
                         json={"event_types": {"NewFollower": False, "PostLiked": False}}).get_json()
    assert changed["event_types"]["NewFollower"] is False and changed["event_types"]["PostLiked"] is False
    again = client.put("/api/v1/push/preferences", headers=anna["headers"],
                       json={"event_types": {"PostLiked": True}}).get_json()["event_types"]
    assert again["NewFollower"] is False and again["PostLiked"] is True
    assert client.get("/api/v1/push/preferences", headers=anna["headers"]).get_json()["event_types"] == again


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"),
    ({"event_types": ["NewFollower"]}, "invalid_field"),
    ({"event_types": {"NewCommunityPost": True}}, "invalid_field"),
    ({"event_types": {"NewFollower": "no"}}, "invalid_field"),
])
def test_bad_preferences_are_refused(client, auth, body, code) -> None:
    anna = auth.register("anna")
    response = client.put("/api/v1/push/preferences", json=body, headers=anna["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_a_burst_of_subscriptions_keeps_the_limit(app, live_server) -> None:
    from itcook.push.services import MAX_PER_USER

    api = Api(live_server)
    anna = api.register("anna")
    answers = concurrently(3 * MAX_PER_USER, lambda i: requests.post(
        f"{api.base}/push/subscriptions", headers=anna["headers"], timeout=30,
        json=subscription_json(f"https://push.example.net/send/burst-{i}")).status_code)
    assert set(answers) == {201}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == MAX_PER_USER
    assert len(api.call("GET", "/push/subscriptions", anna, expect=200).json()["items"]) == MAX_PER_USER
