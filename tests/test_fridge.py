"""Fridge routes, the once-a-day ExpiringItems rule, the periodic scan, its job and command."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from gevent.event import Event

from itcook import create_app, jobs
from itcook.extensions import db
from itcook.fridge import SCAN_JOB
from itcook.fridge.services import notify_expiring, scan_expiring, today_utc
from itcook.models import FridgeItem, User
from itcook.signals import items_expiring
from tests.support.servers import make_test_config

URL = "/api/v1/fridge"
WAIT = 5  # seconds: an upper bound on every wait


@pytest.fixture
def app_config(tmp_path: Any) -> dict[str, Any]:
    # A short scan interval so the job test sees runs quickly; nothing starts jobs unless asked.
    return make_test_config(tmp_path, EXPIRY_SCAN_INTERVAL=0.05)


def day(offset: int) -> str:
    return (today_utc() + dt.timedelta(days=offset)).isoformat()


def add(client, headers, name: str = "milk", offset: int = 1, **extra: Any) -> dict[str, Any]:
    response = client.post(f"{URL}/items", json={"name": name, "expires_on": day(offset), **extra},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def marked(app, item_id: int) -> dt.date | None:
    with app.app_context():
        return db.session.get(FridgeItem, item_id).last_notified_on


# --- create -----------------------------------------------------------------------------------

def test_create_item_returns_it(client, auth) -> None:
    anna = auth.register("anna")
    response = client.post(f"{URL}/items", headers=anna["headers"],
                           json={"name": "  Milk ", "quantity": 1.5, "unit": "l", "expires_on": day(2)})
    assert response.status_code == 201
    item = response.get_json()
    assert set(item) == {"id", "name", "quantity", "unit", "expires_on", "days_left", "created_at"}
    assert item["name"] == "Milk" and item["quantity"] == 1.5 and item["unit"] == "l"
    assert item["expires_on"] == day(2) and item["days_left"] == 2
    assert item["created_at"].endswith("Z")


def test_create_item_optional_fields_and_past_date(client, auth) -> None:
    anna = auth.register("anna")
    item = add(client, anna["headers"], "old cheese", offset=-2)
    assert item["quantity"] is None and item["unit"] is None and item["days_left"] == -2


@pytest.mark.parametrize("body, code", [
    ({"expires_on": "2030-01-01"}, "missing_field"),
    ({"name": None, "expires_on": "2030-01-01"}, "missing_field"),
    ({"name": "   ", "expires_on": "2030-01-01"}, "invalid_field"),
    ({"name": "x" * 101, "expires_on": "2030-01-01"}, "invalid_field"),
    ({"name": 7, "expires_on": "2030-01-01"}, "invalid_field"),
    ({"name": "milk"}, "missing_field"),
    ({"name": "milk", "expires_on": None}, "missing_field"),
    ({"name": "milk", "expires_on": "2030-13-01"}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-02-30"}, "invalid_field"),
    ({"name": "milk", "expires_on": "20300101"}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-W01-1"}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01T10:00"}, "invalid_field"),
    ({"name": "milk", "expires_on": 20300101}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "quantity": 0}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "quantity": -1}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "quantity": "2"}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "quantity": True}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "quantity": 1e10}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "unit": ""}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "unit": "u" * 21}, "invalid_field"),
    ({"name": "milk", "expires_on": "2030-01-01", "unit": 3}, "invalid_field"),
])
def test_create_item_validation(app, client, auth, body, code) -> None:
    anna = auth.register("anna")
    response = client.post(f"{URL}/items", json=body, headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(FridgeItem)) == 0


def test_create_item_needs_a_json_object(client, auth) -> None:
    headers = auth.register("anna")["headers"]
    response = client.post(f"{URL}/items", data="x", content_type="text/plain", headers=headers)
    assert response.status_code == 415
    response = client.post(f"{URL}/items", data="{bad", content_type="application/json", headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    response = client.post(f"{URL}/items", json=["milk"], headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("method, path", [
    ("post", "/items"), ("get", "/items"), ("get", "/items/1"), ("delete", "/items/1"),
    ("get", "/items/expiring"), ("post", "/notify-expiring"),
])
def test_routes_need_a_token(client, method, path) -> None:
    response = getattr(client, method)(URL + path, json={})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"


# --- list, show, delete -----------------------------------------------------------------------

def test_list_is_own_items_soonest_first_and_paginated(client, auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    later = add(client, anna["headers"], "rice", offset=30)
    soon = add(client, anna["headers"], "milk", offset=1)
    expired = add(client, anna["headers"], "yogurt", offset=-1)
    add(client, bob["headers"], "bob's beer", offset=0)
    body = client.get(f"{URL}/items", headers=anna["headers"]).get_json()
    assert [i["id"] for i in body["items"]] == [expired["id"], soon["id"], later["id"]]
    assert (body["page"], body["per_page"], body["total"]) == (1, 20, 3)
    page2 = client.get(f"{URL}/items?per_page=2&page=2", headers=anna["headers"]).get_json()
    assert [i["id"] for i in page2["items"]] == [later["id"]] and page2["total"] == 3


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=101", "page=x"])
def test_list_bad_paging_is_400(client, auth, query) -> None:
    headers = auth.register("anna")["headers"]
    response = client.get(f"{URL}/items?{query}", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_show_item_and_404s(client, auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    item = add(client, anna["headers"])
    assert client.get(f"{URL}/items/{item['id']}", headers=anna["headers"]).get_json() == item
    for item_id in (item["id"], item["id"] + 100, 2**40):
        response = client.get(f"{URL}/items/{item_id}", headers=bob["headers"])
        assert response.status_code == 404, item_id
        assert response.get_json()["error"]["code"] == "not_found"
    # Another user's item and a missing one answer the same: existence is not leaked.
    other = client.get(f"{URL}/items/{item['id']}", headers=bob["headers"]).get_json()
    missing = client.get(f"{URL}/items/{item['id'] + 100}", headers=bob["headers"]).get_json()
    assert other == missing


def test_delete_item(client, auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    item = add(client, anna["headers"])
    response = client.delete(f"{URL}/items/{item['id']}", headers=bob["headers"])
    assert response.status_code == 404
    assert client.get(f"{URL}/items/{item['id']}", headers=anna["headers"]).status_code == 200
    response = client.delete(f"{URL}/items/{item['id']}", headers=anna["headers"])
    assert response.status_code == 204 and response.data == b""
    assert client.get(f"{URL}/items/{item['id']}", headers=anna["headers"]).status_code == 404
    assert client.delete(f"{URL}/items/{item['id']}", headers=anna["headers"]).status_code == 404


# --- expiring ---------------------------------------------------------------------------------

def test_expiring_includes_expired_soonest_first(client, auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    in3 = add(client, anna["headers"], "eggs", offset=3)
    add(client, anna["headers"], "rice", offset=4)
    expired = add(client, anna["headers"], "yogurt", offset=-5)
    today = add(client, anna["headers"], "milk", offset=0)
    add(client, bob["headers"], "bob's milk", offset=0)
    body = client.get(f"{URL}/items/expiring", headers=anna["headers"]).get_json()
    assert body["days"] == 3  # EXPIRY_SCAN_DAYS default
    assert [i["id"] for i in body["items"]] == [expired["id"], today["id"], in3["id"]]
    assert [i["days_left"] for i in body["items"]] == [-5, 0, 3]
    body = client.get(f"{URL}/items/expiring?days=0", headers=anna["headers"]).get_json()
    assert body["days"] == 0 and [i["id"] for i in body["items"]] == [expired["id"], today["id"]]


def test_expiring_default_days_from_config(app, client, auth) -> None:
    app.config["EXPIRY_SCAN_DAYS"] = 10
    anna = auth.register("anna")
    add(client, anna["headers"], offset=9)
    body = client.get(f"{URL}/items/expiring", headers=anna["headers"]).get_json()
    assert body["days"] == 10 and len(body["items"]) == 1


@pytest.mark.parametrize("method, path", [("get", "/items/expiring"), ("post", "/notify-expiring")])
@pytest.mark.parametrize("days", ["-1", "366", "x", "1.5"])
def test_days_out_of_range_is_400(app, client, auth, signals, method, path, days) -> None:
    anna = auth.register("anna")
    item = add(client, anna["headers"], offset=0)
    response = getattr(client, method)(f"{URL}{path}?days={days}", headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"
    assert signals.named("items-expiring") == [] and marked(app, item["id"]) is None


def test_expiring_does_not_mark_items(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    item = add(client, anna["headers"], offset=0)
    client.get(f"{URL}/items/expiring", headers=anna["headers"])
    assert marked(app, item["id"]) is None and signals.calls == []


# --- notify-expiring --------------------------------------------------------------------------

def test_notify_announces_once_a_day(app, client, auth, signals) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    milk = add(client, anna["headers"], "milk", offset=1)
    expired = add(client, anna["headers"], "yogurt", offset=-1)
    add(client, anna["headers"], "rice", offset=10)
    add(client, bob["headers"], "bob's milk", offset=0)
    response = client.post(f"{URL}/notify-expiring?days=3", headers=anna["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["days"] == 3 and body["announced"] == 2
    assert [i["id"] for i in body["items"]] == [expired["id"], milk["id"]]
    assert body["items"][1] == milk
    assert signals.named("items-expiring") == [{
        "user_id": anna["user"]["id"],
        "items": [
            {"id": expired["id"], "name": "yogurt", "expires_on": day(-1), "days_left": -1},
            {"id": milk["id"], "name": "milk", "expires_on": day(1), "days_left": 1},
        ],
        "days": 3,
    }]
    assert marked(app, milk["id"]) == today_utc()

    again = client.post(f"{URL}/notify-expiring?days=3", headers=anna["headers"]).get_json()
    assert again == {"days": 3, "announced": 0, "items": []}
    assert len(signals.named("items-expiring")) == 1

    # A newly due item is announced the same day; the already announced ones are not.
    late = add(client, anna["headers"], "cream", offset=2)
    third = client.post(f"{URL}/notify-expiring", headers=anna["headers"]).get_json()
    assert third["announced"] == 1 and third["items"][0]["id"] == late["id"]
    assert [c["items"][0]["id"] for c in signals.named("items-expiring")[1:]] == [late["id"]]


def test_notify_nothing_expiring_sends_no_signal(client, auth, signals) -> None:
    anna = auth.register("anna")
    add(client, anna["headers"], offset=5)
    body = client.post(f"{URL}/notify-expiring?days=3", headers=anna["headers"]).get_json()
    assert body == {"days": 3, "announced": 0, "items": []}
    body = client.post(f"{URL}/notify-expiring", headers=auth.register("bob")["headers"]).get_json()
    assert body["announced"] == 0
    assert signals.calls == []


def test_notify_again_the_next_day(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    item = add(client, anna["headers"], offset=1)
    assert client.post(f"{URL}/notify-expiring", headers=anna["headers"]).get_json()["announced"] == 1
    tomorrow = today_utc() + dt.timedelta(days=1)
    with app.app_context():
        assert [i["id"] for i in notify_expiring(anna["user"]["id"], 3, tomorrow)] == [item["id"]]
        assert notify_expiring(anna["user"]["id"], 3, tomorrow) == []
    calls = signals.named("items-expiring")
    assert len(calls) == 2 and calls[1]["items"][0]["days_left"] == 0
    assert marked(app, item["id"]) == tomorrow


def test_signal_is_sent_inside_the_transaction(app, client, auth) -> None:
    anna = auth.register("anna")
    item = add(client, anna["headers"], offset=0)
    seen: list[dt.date | None] = []

    def receiver(sender, **kwargs) -> None:
        # A separate connection does not see the mark yet: the event commits with it.
        with db.engine.connect() as conn:
            seen.append(conn.scalar(db.select(FridgeItem.last_notified_on)
                                    .where(FridgeItem.id == item["id"])))

    items_expiring.connect(receiver, sender=app)
    try:
        client.post(f"{URL}/notify-expiring", headers=anna["headers"])
    finally:
        items_expiring.disconnect(receiver, sender=app)
    assert seen == [None]


# --- the periodic scan ------------------------------------------------------------------------

def deactivate(app, user_id: int) -> None:
    with app.app_context():
        db.session.get(User, user_id).is_active = False
        db.session.commit()


def test_scan_notifies_each_active_user_once_a_day(app, client, auth, signals) -> None:
    anna, bob, carl, dora = (auth.register(n) for n in ("anna", "bob", "carl", "dora"))
    a1 = add(client, anna["headers"], "milk", offset=0)
    a2 = add(client, anna["headers"], "eggs", offset=2)
    b1 = add(client, bob["headers"], "beer", offset=-3)
    add(client, carl["headers"], "rice", offset=30)  # not due
    add(client, dora["headers"], "ham", offset=0)
    deactivate(app, dora["user"]["id"])
    with app.app_context():
        assert scan_expiring(3) == 2
    calls = sorted(signals.named("items-expiring"), key=lambda c: c["user_id"])
    assert calls == [
        {"user_id": anna["user"]["id"], "days": 3, "items": [
            {"id": a1["id"], "name": "milk", "expires_on": day(0), "days_left": 0},
            {"id": a2["id"], "name": "eggs", "expires_on": day(2), "days_left": 2}]},
        {"user_id": bob["user"]["id"], "days": 3, "items": [
            {"id": b1["id"], "name": "beer", "expires_on": day(-3), "days_left": -3}]},
    ]
    with app.app_context():
        assert scan_expiring(3) == 0
        assert scan_expiring(3, today_utc() + dt.timedelta(days=1)) == 2
    assert len(signals.named("items-expiring")) == 4
    # The route sees the scan's marks: nothing left to announce for anna on that day.
    assert client.post(f"{URL}/notify-expiring", headers=anna["headers"]).get_json()["announced"] == 0


def test_scan_skips_what_the_route_announced(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    add(client, anna["headers"], offset=0)
    client.post(f"{URL}/notify-expiring", headers=anna["headers"])
    with app.app_context():
        assert scan_expiring(3) == 0
    assert len(signals.named("items-expiring")) == 1


def test_scan_with_nothing_due_sends_nothing(app, client, auth, signals) -> None:
    add(client, auth.register("anna")["headers"], offset=10)
    with app.app_context():
        assert scan_expiring(3) == 0
    assert signals.calls == []


def test_a_scan_whose_receiver_fails_marks_nothing_and_the_next_one_announces(app, client,
                                                                             auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    add(client, anna["headers"], offset=0)
    add(client, bob["headers"], offset=0)

    def receiver(sender, user_id, **kwargs) -> None:
        raise RuntimeError("the event could not be written")

    items_expiring.connect(receiver, sender=app)
    try:
        with app.app_context(), pytest.raises(RuntimeError):
            scan_expiring(3)
    finally:
        items_expiring.disconnect(receiver, sender=app)
    with app.app_context():
        db.session.rollback()  # what the job runner's context teardown does
        assert scan_expiring(3) == 2  # nothing was marked without its announcement


def test_cli_expiry_scan(client, auth, runner, signals) -> None:
    anna = auth.register("anna")
    add(client, anna["headers"], offset=3)
    result = runner.invoke(args=["expiry-scan", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "notified 0 user(s)" in result.output and signals.calls == []
    result = runner.invoke(args=["expiry-scan"])  # default: EXPIRY_SCAN_DAYS = 3
    assert result.exit_code == 0, result.output
    assert "notified 1 user(s) of items expiring within 3 day(s)" in result.output
    assert [c["user_id"] for c in signals.named("items-expiring")] == [anna["user"]["id"]]
    assert "notified 0 user(s)" in runner.invoke(args=["expiry-scan", "--days", "3"]).output


@pytest.mark.parametrize("days", ["-1", "366", "x"])
def test_cli_expiry_scan_rejects_bad_days(runner, signals, days) -> None:
    result = runner.invoke(args=["expiry-scan", "--days", days])
    assert result.exit_code == 2 and signals.calls == []


def test_scan_job_runs_through_the_job_runner(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    add(client, anna["headers"], offset=1)
    job = jobs.registry(app).jobs[SCAN_JOB]
    assert job.interval == 0.05
    scan, results, third_run = job.fn, [], Event()

    def counted() -> int:
        # Wraps the registered scan to observe its runs without sleeping in the test.
        results.append(scan())
        if len(results) >= 3:
            third_run.set()
        return results[-1]

    job.fn = counted
    jobs.start(app)
    try:
        assert third_run.wait(WAIT), "the scan job did not run three times"
    finally:
        jobs.stop(app)
    # The first run announced anna's item; the later runs the same day found nothing new.
    assert results[:3] == [1, 0, 0]
    assert [c["user_id"] for c in signals.named("items-expiring")] == [anna["user"]["id"]]
    assert job.failures == 0


def test_scan_job_off_when_interval_is_zero(tmp_path) -> None:
    app = create_app(make_test_config(tmp_path))  # EXPIRY_SCAN_INTERVAL = 0
    assert SCAN_JOB not in jobs.registry(app).jobs
    assert "expiry-scan" in app.cli.commands
