"""Nearby across processes: an offer posted on one process reaches, on any process, exactly the
users whose area holds it (PostGIS matching, Redis delivery), and its claim is heard everywhere."""

from __future__ import annotations

import datetime as dt
import random

import gevent
import gevent.event
import pytest
from sqlalchemy import create_engine

from itcook.nearby.geo import distance_km
from itcook.nearby.spatial import ensure_postgis
from tests.support.cluster import PG_URL, Cluster, reset_database
from tests.support.rest import Api
from tests.support.ws import ws_connect


def test_an_offer_reaches_exactly_the_matching_users_on_every_process(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    api_a, api_b = Api(a), Api(b)
    rng = random.Random(21)
    offerer = api_a.register("offerer")
    users = [api_a.register(f"cook{i}") for i in range(10)]
    point = (-16.5, 179.98)  # Fiji, across the antimeridian
    areas = {}
    for user in users:
        lat, lon = point[0] + rng.uniform(-0.15, 0.15), point[1] + rng.uniform(-0.15, 0.15)
        lon = (lon + 180) % 360 - 180
        body = api_a.call("PUT", "/nearby/area", user, expect=200,
                          json={"lat": lat, "lon": lon, "radius_km": rng.uniform(2, 20)}).json()
        areas[user["user"]["id"]] = body
    # The oracle, on the stored (coarsened) areas and the offer's coarsened point.
    clients = {u["user"]["id"]: ws_connect(b if i % 2 else a, u["access_token"]) for i, u in enumerate(users)}
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    offer = api_a.call("POST", "/nearby/offers", offerer, expect=201, json={
        "title": "Taro", "lat": point[0], "lon": point[1], "pickup_until": until}).json()
    expected = {uid for uid, area in areas.items()
                if distance_km(area["approx_lat"], area["approx_lon"], offer["approx_lat"],
                               offer["approx_lon"]) <= area["radius_km"]}
    assert 0 < len(expected) < len(users), "the seed must give both cases"
    # Claimed on process b; then a follow from the offerer to everyone marks the end of the story.
    claimer = next(u for u in users if u["user"]["id"] == min(expected))
    api_b.call("POST", f"/nearby/offers/{offer['id']}/claim", claimer, expect=200)
    for user in users:
        api_b.call("POST", f"/community/users/{user['user']['id']}/follow", offerer, expect=201)
    for uid, client in clients.items():
        frames = []
        while not frames or frames[-1]["type"] != "NewFollower":
            frames.append(client.recv(timeout=15))
        types = [f["type"] for f in frames if f.get("channel") == "personal"]
        if uid in expected:
            assert types == ["NearbyOffer", "NearbyOfferTaken", "NewFollower"], (uid, frames)
            assert frames[0]["data"]["offer_id"] == frames[1]["data"]["offer_id"] == offer["id"]
        else:
            assert types == ["NewFollower"], (uid, frames)
        client.close()


def test_concurrent_claims_on_two_processes_have_exactly_one_winner(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    offerer = Api(a).register("offerer")
    claimers = [Api(a).register(f"claimer{i}") for i in range(10)]
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    offer = Api(b).call("POST", "/nearby/offers", offerer, expect=201, json={
        "title": "Soup", "lat": 59.93, "lon": 30.31, "pickup_until": until}).json()
    watcher = ws_connect(a, offerer["access_token"])
    start = gevent.event.Event()

    def claim(server: object, user: dict) -> tuple[int, str | None]:
        start.wait(10)
        answer = Api(server).call("POST", f"/nearby/offers/{offer['id']}/claim", user)
        return answer.status_code, answer.json().get("error", {}).get("code")

    jobs = [gevent.spawn(claim, (a, b)[i % 2], user) for i, user in enumerate(claimers)]
    start.set()
    gevent.joinall(jobs, timeout=30, raise_error=True)
    assert sorted(job.value for job in jobs) == [(200, None)] + [(409, "already_claimed")] * 9
    winner = next(u for u, job in zip(claimers, jobs, strict=True) if job.value[0] == 200)
    # A follow sent after the claims marks the end: exactly one OfferClaimed comes before it.
    Api(b).call("POST", f"/community/users/{offerer['user']['id']}/follow", winner, expect=201)
    frames = []
    while not frames or frames[-1]["type"] != "NewFollower":
        frames.append(watcher.recv(timeout=15))
    personal = [f for f in frames if f.get("channel") == "personal"]
    assert [f["type"] for f in personal] == ["OfferClaimed", "NewFollower"], frames
    assert personal[0]["data"] == {"offer_id": offer["id"], "by_id": winner["user"]["id"],
                                   "by_name": winner["user"]["display_name"]}
    inbox = Api(a).call("GET", "/notifications", offerer, expect=200).json()["items"]
    assert sorted(n["type"] for n in inbox) == ["NewFollower", "OfferClaimed"]
    watcher.close()


def test_postgresql_without_postgis_fails_with_a_message_naming_the_package() -> None:
    reset_database()
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            ensure_postgis(conn)  # installed here: nothing to say
            with pytest.raises(RuntimeError, match=r"Nearby needs PostGIS.*postgresql-<version>-postgis-3"):
                ensure_postgis(conn, extension="postgis_not_installed_here")
    finally:
        engine.dispose()
