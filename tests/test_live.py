"""IT Cook's table of events: every signal is connected, each row's special case, and a new
event that is one signal and one row arrives durable and resumable, with its notification."""

from __future__ import annotations

from typing import Any

import pytest
from blinker import Namespace
from flask import Flask

from itcook import live, signals
from itcook.extensions import db
from itcook.models import User
from itcook.signals import emit
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect

# A signal no part of IT Cook knows: the host of a new event adds it and one row, nothing else.
tasted = Namespace().signal("dish-tasted")
TASTED = live.EventSpec(tasted, "DishTasted", "user:{user_id}", ("dish", "stars"),
                        inbox=lambda d: ("Dish tasted", f"{d['dish']}: {d['stars']} stars"))


@pytest.fixture
def app_config(app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The app of these tests is built with the table plus ``TASTED``."""
    monkeypatch.setattr(live, "EVENTS", (*live.EVENTS, TASTED))
    return app_config


def test_every_domain_signal_and_row_has_its_receiver_connected(app: Flask) -> None:
    receivers = app.extensions["live"]
    assert set(signals.ALL_SIGNALS) <= set(receivers)  # none left without an event or an action
    for row in live.EVENTS:
        assert receivers[row.signal] in row.signal.receivers_for(app), row.type
    for signal in live.ACTIONS:
        assert receivers[signal] in signal.receivers_for(app), signal.name
    assert set(receivers) == {row.signal for row in live.EVENTS} | set(live.ACTIONS)


def test_a_signal_sends_each_type_once() -> None:
    pairs = [(row.signal, row.type) for row in live.EVENTS]
    assert len(pairs) == len(set(pairs))


def _events(event_type: str, **args: Any) -> list[tuple[str, dict[str, Any]]]:
    row = live.spec(event_type)
    assert row is not None
    return list(row.events(args))


def test_nobody_is_told_of_their_own_like_or_comment() -> None:
    like = {"post_id": 3, "user_id": 7, "user_name": "anna", "likes_count": 1}
    assert _events("PostLiked", post_author_id=7, **like) == []
    assert _events("PostLiked", post_author_id=8, **like) == [("user:8", like)]
    comment = {"comment_id": 5, "post_id": 3, "author_id": 7, "author_name": "anna", "content": "hi"}
    assert _events("NewComment", post_author_id=7, created_at="t", **comment) == [("post:3", comment)]
    assert _events("NewComment", post_author_id=8, created_at="t", **comment) == [
        ("post:3", comment), ("user:8", comment)]


def test_a_system_notification_goes_to_everyone_or_to_one_user() -> None:
    text = {"title": "t", "message": "m", "level": "info"}
    assert _events("SystemNotification", user_id=None, **text) == [("system", text)]
    assert _events("SystemNotification", user_id=4, **text) == [("user:4", text)]


def test_nearby_events_go_to_each_recipient() -> None:
    offer = {"offer_id": 1, "title": "Soup", "approx_lat": 55.75, "approx_lon": 37.62,
             "pickup_until": "2026-01-01T10:00:00Z", "by_name": "anna"}
    sent = _events("NearbyOffer", by_id=9, recipients=[{"user_id": 2, "distance_km": 0.5},
                                                       {"user_id": 3, "distance_km": 1.2}], **offer)
    assert sent == [("user:2", {**offer, "distance_km": 0.5}), ("user:3", {**offer, "distance_km": 1.2})]
    assert _events("NearbyOfferTaken", offerer_id=9, by_id=2, by_name="b", recipients=[3, 4],
                   offer_id=1) == [("user:3", {"offer_id": 1}), ("user:4", {"offer_id": 1})]


def _taste(app: Flask, commit: bool = True, **args: Any) -> None:
    """Send ``tasted`` inside a transaction, as a domain service does, and end it."""
    with app.app_context():
        assert db.session.get(User, args["user_id"]) is not None  # the change's transaction begins
        emit(tasted, **args)
        if commit:
            db.session.commit()
        else:
            db.session.rollback()


def test_a_new_row_is_a_durable_resumable_event_with_its_notification(live_server) -> None:
    api, app = Api(live_server), live_server.app
    anna = api.register("anna")
    me = anna["user"]["id"]
    ws = ws_connect(live_server, anna["access_token"])
    wait_for(lambda: live_server.state.hub.connections, what="the stream")
    _taste(app, user_id=me, dish="soup", stars=4)
    seen = ws.recv_type("DishTasted")
    assert seen["channel"] == "personal" and seen["data"] == {"dish": "soup", "stars": 4}
    assert isinstance(seen["id"], int)
    ws.close()
    wait_for(lambda: not live_server.state.hub.connections, what="the disconnect")

    _taste(app, user_id=me, dish="pie", stars=5)  # while anna is away
    _taste(app, commit=False, user_id=me, dish="stew", stars=1)  # rolled back: never sent
    ws = ws_connect(live_server, anna["access_token"], query=f"?last_event_id={seen['id']}")
    missed = ws.recv_type("DishTasted")
    assert missed["data"] == {"dish": "pie", "stars": 5} and missed["id"] > seen["id"]
    assert ws.recv_type("Recovery")["data"] == {"recovered": True, "last_event_id": seen["id"],
                                               "replayed": 1}
    ws.close()

    inbox = api.call("GET", "/notifications", anna, expect=200).json()
    assert [(n["id"], n["type"], n["title"], n["body"]) for n in inbox["items"]] == [
        (missed["id"], "DishTasted", "Dish tasted", "pie: 5 stars"),
        (seen["id"], "DishTasted", "Dish tasted", "soup: 4 stars")]


def test_an_event_that_cannot_be_made_fails_the_change(app: Flask) -> None:
    with app.app_context(), pytest.raises(KeyError, match="stars"):
        emit(tasted, user_id=1, dish="soup")  # a field of the row is missing
