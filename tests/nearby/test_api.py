"""Nearby over REST: opting in, coarsening, offers told to exactly the right users, claims, limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from itcook.nearby.geo import coarsen, distance_km

MOSCOW = (55.751234, 37.618765)  # exact: must never come back
SOON = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()


def _area(client, user: dict, lat: float, lon: float, radius_km: float = 5.0) -> Any:
    return client.put("/api/v1/nearby/area", headers=user["headers"],
                      json={"lat": lat, "lon": lon, "radius_km": radius_km})


def _offer(client, user: dict, lat: float = MOSCOW[0], lon: float = MOSCOW[1], **extra: Any) -> Any:
    return client.post("/api/v1/nearby/offers", headers=user["headers"],
                       json={"title": "Two carrots", "lat": lat, "lon": lon, "pickup_until": SOON, **extra})


def _recipients(signals) -> list[list[int]]:
    return [sorted(r["user_id"] for r in call["recipients"])
            for call in signals.named("nearby-offer-created")]


def test_an_area_is_stored_coarsened_and_only_its_owner_sees_it(client, auth) -> None:
    anna = auth.register("anna")
    answer = _area(client, anna, *MOSCOW, radius_km=3)
    assert answer.status_code == 200, answer.get_json()
    area = answer.get_json()
    assert (area["approx_lat"], area["approx_lon"]) == coarsen(*MOSCOW) != MOSCOW
    assert distance_km(*MOSCOW, area["approx_lat"], area["approx_lon"]) < 0.5
    assert area["radius_km"] == 3
    assert client.get("/api/v1/nearby/area", headers=anna["headers"]).get_json() == area
    assert str(MOSCOW[0]) not in answer.get_data(as_text=True)
    boris = auth.register("boris")
    assert client.get("/api/v1/nearby/area", headers=boris["headers"]).status_code == 404
    assert client.delete("/api/v1/nearby/area", headers=anna["headers"]).status_code == 204
    gone = client.get("/api/v1/nearby/area", headers=anna["headers"])
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "not_opted_in"


@pytest.mark.parametrize("body", [
    {"lat": 90.5, "lon": 0, "radius_km": 5}, {"lat": 0, "lon": -180.01, "radius_km": 5},
    {"lat": 0, "lon": 0, "radius_km": 0.4}, {"lat": 0, "lon": 0, "radius_km": 50.1},
    {"lat": "55", "lon": 0, "radius_km": 5}, {"lat": True, "lon": 0, "radius_km": 5},
    {"lon": 0, "radius_km": 5}, {"lat": 0, "lon": 0},
])
def test_a_bad_area_is_refused_with_400(client, auth, body: dict) -> None:
    anna = auth.register("anna")
    answer = client.put("/api/v1/nearby/area", headers=anna["headers"], json=body)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] in {"invalid_field", "missing_field"}


@pytest.mark.parametrize("change", [
    {"lat": -91}, {"lon": 181}, {"title": ""}, {"title": "x" * 121}, {"pickup_until": "tomorrow"},
    {"pickup_until": "2020-01-01T00:00:00Z"}, {"pickup_until": "2999-01-01T00:00:00Z"},
    {"fridge_item_ids": [123456]}, {"fridge_item_ids": "1"}, {"lat": float("nan")},
])
def test_a_bad_offer_is_refused_with_400_and_tells_no_one(client, auth, signals, change: dict) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    _area(client, boris, *MOSCOW)
    body = {"title": "Bread", "lat": MOSCOW[0], "lon": MOSCOW[1], "pickup_until": SOON, **change}
    answer = client.post("/api/v1/nearby/offers", headers=anna["headers"], json=body)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert signals.named("nearby-offer-created") == []


@pytest.mark.parametrize("query", ["lat=1&lon=2", "lat=x&lon=2&radius_km=3", "lat=1&lon=200&radius_km=3",
                                   "lat=1&lon=2&radius_km=0.1", "lat=nan&lon=2&radius_km=3"])
def test_a_bad_listing_query_is_refused_with_400(client, auth, query: str) -> None:
    anna = auth.register("anna")
    assert client.get(f"/api/v1/nearby/offers?{query}", headers=anna["headers"]).status_code == 400


def test_an_offer_goes_to_exactly_the_areas_holding_it(client, auth, signals) -> None:
    anna, near, far, small, away, blocked = (auth.register(n) for n in
                                             ("anna", "near", "far", "small", "away", "blocked"))
    _area(client, anna, *MOSCOW, radius_km=50)  # the author's own area: never told
    _area(client, near, MOSCOW[0] + 0.02, MOSCOW[1], radius_km=5)  # ~2 km away
    _area(client, far, MOSCOW[0] + 0.3, MOSCOW[1], radius_km=40)  # ~33 km away, big circle
    _area(client, small, MOSCOW[0] + 0.05, MOSCOW[1], radius_km=1)  # ~5.5 km away, small circle
    _area(client, blocked, *MOSCOW, radius_km=10)
    client.post("/api/v1/nearby/blocks", headers=anna["headers"], json={"user_id": blocked["user"]["id"]})
    assert away["user"]["id"]  # never opted in
    answer = _offer(client, anna)
    assert answer.status_code == 201, answer.get_json()
    offer = answer.get_json()
    assert offer["status"] == "open" and (offer["approx_lat"], offer["approx_lon"]) == coarsen(*MOSCOW)
    assert "approx_lat" in offer and "lat" not in offer
    assert _recipients(signals) == [sorted([near["user"]["id"], far["user"]["id"]])]
    sent = signals.named("nearby-offer-created")[0]
    assert (sent["approx_lat"], sent["approx_lon"]) == coarsen(*MOSCOW)
    # The listing around a point: nearest first, with distances; blocked users do not see it.
    listing = client.get(f"/api/v1/nearby/offers?lat={MOSCOW[0]}&lon={MOSCOW[1]}&radius_km=2",
                         headers=near["headers"]).get_json()["items"]
    assert [o["id"] for o in listing] == [offer["id"]] and listing[0]["distance_km"] < 0.5
    assert client.get(f"/api/v1/nearby/offers?lat={MOSCOW[0]}&lon={MOSCOW[1]}&radius_km=2",
                      headers=blocked["headers"]).get_json()["items"] == []
    assert client.post(f"/api/v1/nearby/offers/{offer['id']}/claim",
                       headers=blocked["headers"]).status_code == 404


def test_an_opted_out_user_is_no_longer_told(client, auth, signals) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    _area(client, boris, *MOSCOW)
    client.delete("/api/v1/nearby/area", headers=boris["headers"])
    assert _offer(client, anna).status_code == 201
    assert _recipients(signals) == [[]]


def test_moving_an_area_moves_its_index_entry(client, auth, signals) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    _area(client, boris, 0.0, 179.99, radius_km=10)  # across the antimeridian
    _area(client, boris, *MOSCOW, radius_km=1)
    _offer(client, anna, 0.0, -179.99)
    _offer(client, anna)
    assert _recipients(signals) == [[], [boris["user"]["id"]]]


def test_fridge_items_travel_with_the_offer(client, auth) -> None:
    anna = auth.register("anna")
    item = client.post("/api/v1/fridge/items", headers=anna["headers"],
                       json={"name": "Milk", "expires_on": dt.date.today().isoformat()}).get_json()
    offer = _offer(client, anna, fridge_item_ids=[item["id"]]).get_json()
    assert [i["name"] for i in offer["items"]] == ["Milk"]


def test_the_first_claim_wins_and_the_author_cannot_claim(client, auth, signals) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    _area(client, carol, *MOSCOW)
    offer = _offer(client, anna).get_json()
    own = client.post(f"/api/v1/nearby/offers/{offer['id']}/claim", headers=anna["headers"])
    assert own.status_code == 400 and own.get_json()["error"]["code"] == "own_offer"
    won = client.post(f"/api/v1/nearby/offers/{offer['id']}/claim", headers=boris["headers"])
    assert won.status_code == 200 and won.get_json()["status"] == "claimed"
    late = client.post(f"/api/v1/nearby/offers/{offer['id']}/claim", headers=carol["headers"])
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "already_claimed"
    claimed = signals.named("nearby-offer-claimed")
    assert len(claimed) == 1 and claimed[0]["offerer_id"] == anna["user"]["id"]
    assert claimed[0]["by_id"] == boris["user"]["id"] and claimed[0]["recipients"] == [carol["user"]["id"]]
    assert client.post("/api/v1/nearby/offers/999999/claim", headers=carol["headers"]).status_code == 404


def test_an_offer_past_its_window_cannot_be_claimed(app, client, auth) -> None:
    from itcook.extensions import db
    from itcook.models import NearbyOffer, utcnow

    anna, boris = auth.register("anna"), auth.register("boris")
    offer = _offer(client, anna).get_json()
    with app.app_context():
        db.session.get(NearbyOffer, offer["id"]).pickup_until = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
    late = client.post(f"/api/v1/nearby/offers/{offer['id']}/claim", headers=boris["headers"])
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "offer_expired"
    assert client.get(f"/api/v1/nearby/offers?lat={MOSCOW[0]}&lon={MOSCOW[1]}&radius_km=5",
                      headers=boris["headers"]).get_json()["items"] == []


@pytest.mark.realtime_config(NEARBY_OFFERS_PER_HOUR=2, NEARBY_CLAIMS_PER_HOUR=1)
def test_offers_and_claims_are_rate_limited_per_user(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    ids = [_offer(client, anna).get_json()["id"] for _ in range(2)]
    limited = _offer(client, anna)
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    assert _offer(client, boris).status_code == 201  # per user
    assert client.post(f"/api/v1/nearby/offers/{ids[0]}/claim", headers=boris["headers"]).status_code == 200
    again = client.post(f"/api/v1/nearby/offers/{ids[1]}/claim", headers=boris["headers"])
    assert again.status_code == 429


def test_the_texts_of_a_nearby_notification_carry_no_coordinates() -> None:
    from itcook.notifications import describe

    title, body = describe("NearbyOffer", {"offer_id": 1, "title": "Soup", "approx_lat": 55.755,
                                           "approx_lon": 37.616953, "distance_km": 1.2, "by_name": "anna"})
    assert "55.7" not in title + body and "37.6" not in title + body and "Soup" in body


def test_blocking_is_listed_validated_and_lifted(client, auth, signals) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    _area(client, boris, *MOSCOW)
    blocks = "/api/v1/nearby/blocks"
    for body, status, code in (({"user_id": anna["user"]["id"]}, 400, "invalid_field"),
                               ({"user_id": "2"}, 400, "invalid_field"),
                               ({"user_id": True}, 400, "invalid_field"), ({}, 400, "missing_field"),
                               ({"user_id": 999999}, 404, "not_found")):
        answer = client.post(blocks, headers=anna["headers"], json=body)
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (status, code), body
    for _ in range(2):  # idempotent
        answer = client.post(blocks, headers=anna["headers"], json={"user_id": boris["user"]["id"]})
        assert answer.status_code == 204
    assert client.get(blocks, headers=anna["headers"]).get_json() == {"user_ids": [boris["user"]["id"]]}
    assert client.get(blocks, headers=boris["headers"]).get_json() == {"user_ids": []}  # mine only
    blocked = _offer(client, anna).get_json()
    assert client.get(f"/api/v1/nearby/offers/{blocked['id']}", headers=boris["headers"]).status_code == 404
    assert client.delete(f"{blocks}/{boris['user']['id']}", headers=anna["headers"]).status_code == 204
    assert client.get(blocks, headers=anna["headers"]).get_json() == {"user_ids": []}
    _offer(client, anna)
    assert _recipients(signals) == [[], [boris["user"]["id"]]]
    assert client.get(f"/api/v1/nearby/offers/{blocked['id']}", headers=boris["headers"]).status_code == 200


def test_the_listing_is_nearest_first_within_the_radius_across_the_antimeridian(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    here = (-16.5, 179.99)
    made = {}
    for name, (lat, lon) in {"3 km": (-16.5, -179.98), "1 km": (-16.5, 179.98), "8 km": (-16.5, 179.915),
                             "20 km": (-16.5, -179.8)}.items():
        made[name] = _offer(client, anna, lat, lon, title=name).get_json()["id"]
    listing = client.get(f"/api/v1/nearby/offers?lat={here[0]}&lon={here[1]}&radius_km=10",
                         headers=boris["headers"]).get_json()["items"]
    assert [o["title"] for o in listing] == ["1 km", "3 km", "8 km"]
    distances = [o["distance_km"] for o in listing]
    assert distances == sorted(distances) and distances[-1] <= 10
    assert all(not o["mine"] and o["by_name"] == "anna" for o in listing)
