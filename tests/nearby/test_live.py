"""Nearby live: NearbyOffer reaches exactly the users whose area holds the offer, coarsened on every
path out (frames, inbox); the first of concurrent claims wins; the offerer and the others hear it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import gevent
import gevent.event
import pytest

from itcook.nearby.geo import coarsen
from itcook.realtime.events import Event
from tests.support.rest import Api
from tests.support.ws import Client, ws_connect

EXACT = (48.858372, 2.294481)
SOON = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).isoformat()


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _until_marker(live_server, client: Client, user: dict[str, Any]) -> list[dict[str, Any]]:
    """Every frame ``client`` got before a marker published to its user after everything else."""
    with live_server.app.app_context():
        live_server.state.publish_event(Event(type="SystemNotification", channel=f"user:{user['user']['id']}",
                                              data={"title": "marker", "message": ".", "level": "info"}))
    frames = []
    for _ in range(100):
        frame = client.recv(timeout=10)
        if frame["type"] == "SystemNotification" and frame["data"]["title"] == "marker":
            return frames
        frames.append(frame)
    raise AssertionError("no marker")


def _inbox(api: Api, user: dict[str, Any]) -> list[str]:
    items = api.call("GET", "/notifications", user, expect=200).json()["items"]
    return [n["type"] for n in items if n["type"] != "SystemNotification"]  # not the markers


def _exact_absent(text: str) -> None:
    assert "48.858372" not in text and "2.294481" not in text and "48.8583" not in text


def test_an_offer_reaches_exactly_the_areas_holding_it_live_and_coarsened(live_server, api) -> None:
    anna, boris, carol, dave = (api.register(n) for n in ("anna", "boris", "carol", "dave"))
    area = {"lat": EXACT[0], "lon": EXACT[1], "radius_km": 5}
    for user, lat in ((anna, EXACT[0]), (boris, EXACT[0] + 0.01), (dave, EXACT[0] - 0.02), (carol, 47.0)):
        api.call("PUT", "/nearby/area", user, expect=200, json={**area, "lat": lat})
    clients = {name: ws_connect(live_server, u["access_token"])
               for name, u in (("anna", anna), ("boris", boris), ("carol", carol), ("dave", dave))}
    answer = api.call("POST", "/nearby/offers", anna, expect=201,
                      json={"title": "Baguettes", "lat": EXACT[0], "lon": EXACT[1], "pickup_until": SOON})
    _exact_absent(answer.text)
    offer = answer.json()
    approx = coarsen(*EXACT)
    for name in ("boris", "dave"):
        raw = clients[name].recv_raw(timeout=10)
        _exact_absent(str(raw))
        frame = json.loads(raw)
        assert frame["type"] == "NearbyOffer"
        assert frame["channel"] == "personal" and isinstance(frame["id"], int)
        data = frame["data"]
        assert data["offer_id"] == offer["id"] and (data["approx_lat"], data["approx_lon"]) == approx
        assert data["by_name"] == "anna" and data["title"] == "Baguettes" and 0 <= data["distance_km"] <= 5
        assert set(data) == {"offer_id", "title", "approx_lat", "approx_lon", "distance_km",
                             "pickup_until", "by_name"}
    for name, user in (("anna", anna), ("carol", carol)):
        assert [f["type"] for f in _until_marker(live_server, clients[name], user)] == []
    inbox = api.call("GET", "/notifications", boris, expect=200)
    _exact_absent(inbox.text)
    assert _inbox(api, boris) == ["NearbyOffer"]

    api.call("POST", f"/nearby/offers/{offer['id']}/claim", boris, expect=200)
    claimed = clients["anna"].recv_type("OfferClaimed", timeout=10)["data"]
    assert claimed == {"offer_id": offer["id"], "by_id": boris["user"]["id"], "by_name": "boris"}
    assert clients["dave"].recv_type("NearbyOfferTaken", timeout=10)["data"] == {"offer_id": offer["id"]}
    assert [f["type"] for f in _until_marker(live_server, clients["carol"], carol)] == []
    # Taken is a live update, not a notification: dave's inbox still holds just the offer.
    assert _inbox(api, dave) == ["NearbyOffer"]
    assert _inbox(api, anna) == ["OfferClaimed"]
    listing = api.call("GET", f"/nearby/offers?lat={EXACT[0]}&lon={EXACT[1]}&radius_km=5", dave, expect=200)
    assert listing.json()["items"] == []
    for client in clients.values():
        client.close()


def test_concurrent_claims_have_exactly_one_winner(live_server, api) -> None:
    anna = api.register("anna")
    claimers = [api.register(f"claimer{i}") for i in range(8)]
    offer = api.call("POST", "/nearby/offers", anna, expect=201,
                     json={"title": "Soup", "lat": EXACT[0], "lon": EXACT[1], "pickup_until": SOON}).json()
    watcher = ws_connect(live_server, anna["access_token"])
    start = gevent.event.Event()

    def claim(user: dict[str, Any]) -> tuple[int, str | None]:
        start.wait(10)
        response = Api(live_server).call("POST", f"/nearby/offers/{offer['id']}/claim", user)
        return response.status_code, response.json().get("error", {}).get("code")

    jobs = [gevent.spawn(claim, user) for user in claimers]
    start.set()
    gevent.joinall(jobs, timeout=30, raise_error=True)
    results = sorted(job.value for job in jobs)
    assert results == [(200, None)] + [(409, "already_claimed")] * 7
    assert watcher.recv_type("OfferClaimed", timeout=10)["data"]["offer_id"] == offer["id"]
    assert [f["type"] for f in _until_marker(live_server, watcher, anna)] == []
    watcher.close()


@pytest.mark.realtime_config(NEARBY_OFFERS_PER_HOUR=2)
def test_parallel_offers_of_one_user_stop_exactly_at_the_limit(live_server, api) -> None:
    anna = api.register("anna")
    start = gevent.event.Event()

    def offer() -> int:
        start.wait(10)
        return Api(live_server).call("POST", "/nearby/offers", anna, json={
            "title": "Soup", "lat": EXACT[0], "lon": EXACT[1], "pickup_until": SOON}).status_code

    jobs = [gevent.spawn(offer) for _ in range(6)]
    start.set()
    gevent.joinall(jobs, timeout=30, raise_error=True)
    assert sorted(job.value for job in jobs) == [201, 201, 429, 429, 429, 429]
