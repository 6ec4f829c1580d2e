"""A NearbyOffer reaches an offline recipient by Web Push, without a coordinate in it; Nearby's
pushes (and ExpiringItems, which links to offering the items nearby) open the Nearby panel."""

from __future__ import annotations

import datetime as dt
import json

from tests.support.push import PushService
from tests.support.waiting import wait_for


def test_an_offline_recipient_is_pushed_the_offer_without_coordinates(app, client, auth,
                                                                       push_service: PushService,
                                                                       sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = push_service.subscribe()
    assert client.post("/api/v1/push/subscriptions", json=sub, headers=boris["headers"]).status_code == 201
    client.put("/api/v1/nearby/area", headers=boris["headers"], json={"lat": 59.9391, "lon": 30.3158,
                                                                     "radius_km": 3})
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    offer = client.post("/api/v1/nearby/offers", headers=anna["headers"], json={
        "title": "Pelmeni", "lat": 59.937512, "lon": 30.308611, "pickup_until": until})
    assert offer.status_code == 201
    wait_for(lambda: len(push_service.to(sub)) == 1 and sender.idle(), what="the push")
    [received] = push_service.to(sub)
    assert received.payload["type"] == "NearbyOffer"
    assert received.payload["url"] == "/#nearby"  # a click opens the Nearby panel
    assert received.payload["title"] == "Food to share near you"
    assert "Pelmeni" in received.payload["body"] and "anna" in received.payload["body"]
    text = json.dumps(received.payload)
    assert "59.93" not in text and "30.30" not in text and "30.31" not in text


def test_a_pushed_expiring_items_notification_opens_the_nearby_panel(client, auth, push_service: PushService,
                                                                      sender) -> None:
    anna = auth.register("anna")
    sub = push_service.subscribe()
    assert client.post("/api/v1/push/subscriptions", json=sub, headers=anna["headers"]).status_code == 201
    client.post("/api/v1/fridge/items", headers=anna["headers"],
                json={"name": "Milk", "expires_on": dt.date.today().isoformat()})
    assert client.post("/api/v1/fridge/notify-expiring", headers=anna["headers"]).get_json()["announced"] == 1
    wait_for(lambda: len(push_service.to(sub)) == 1 and sender.idle(), what="the push")
    [received] = push_service.to(sub)
    # Where "offer these nearby" is: the panel's button and the inbox entry's link.
    assert received.payload["type"] == "ExpiringItems" and received.payload["url"] == "/#nearby"
