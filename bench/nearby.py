"""Nearby's spatial matching: one offer against 100k opted-in areas, and a burst of offers.

The areas are written straight into a migrated database (users, areas and, on SQLite, the R*Tree
boxes exactly as ``write_area`` writes them), then matching runs in this process on the database's
own connection: the index probe plus the exact distance test, as ``POST /nearby/offers`` does.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.harness import median, migrate, percentile
from tests.support.servers import reachable

#: The areas' region (about 1100 × 680 km, a country) and their radii (km).
REGION = ((47.0, 57.0), (5.0, 15.0))
RADII = (0.5, 50.0)


def _points(rng: random.Random, n: int) -> list[tuple[float, float]]:
    (lat0, lat1), (lon0, lon1) = REGION
    return [(rng.uniform(lat0, lat1), rng.uniform(lon0, lon1)) for _ in range(n)]


def _build(url: str, n: int, rng: random.Random) -> tuple[Any, float]:
    """Migrate, then write ``n`` users with an area each; the engine and the seconds it took."""
    from sqlalchemy import create_engine, text

    from itcook.nearby.geo import bounding_boxes, coarsen

    migrate(url)
    engine = create_engine(url)
    started = time.monotonic()
    users, areas, boxes = [], [], []
    for i, (lat, lon) in enumerate(_points(rng, n), start=1):
        clat, clon = coarsen(lat, lon)
        radius = rng.uniform(*RADII)
        users.append({"id": i, "u": f"area{i}", "k": f"{i:032x}"})
        areas.append({"id": i, "lat": clat, "lon": clon, "r": radius})
        boxes += [{"id": i * 2 + k, "a": b[0], "b": b[1], "c": b[2], "d": b[3]}
                  for k, b in enumerate(bounding_boxes(clat, clon, radius))]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username, display_name, password_hash, role, is_active, "
                          "created_at, session_key) "
                          "VALUES (:id, :u, :u, '-', 'user', true, CURRENT_TIMESTAMP, :k)"), users)
        conn.execute(text("INSERT INTO nearby_areas (user_id, lat, lon, radius_km, updated_at) "
                          "VALUES (:id, :lat, :lon, :r, CURRENT_TIMESTAMP)"), areas)
        if engine.dialect.name == "sqlite":
            conn.execute(text("INSERT INTO nearby_area_boxes VALUES (:id, :a, :b, :c, :d)"), boxes)
        else:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('users', 'id'), :n)"), {"n": n})
            conn.execute(text("ANALYZE nearby_areas"))
    return engine, round(time.monotonic() - started, 1)


def _brute_force_ms(engine: Any, offers: list[tuple[float, float]]) -> float:
    """The same answer without the index: every area's distance (the median, ms)."""
    from sqlalchemy import text

    from itcook.nearby.geo import distance_km

    times = []
    with engine.connect() as conn:
        for lat, lon in offers:
            t = time.perf_counter()
            if engine.dialect.name == "sqlite":
                rows = conn.execute(text("SELECT user_id, lat, lon, radius_km FROM nearby_areas"))
                [r[0] for r in rows if distance_km(r[1], r[2], lat, lon) <= r[3]]
            else:
                conn.execute(text(
                    "SELECT user_id FROM nearby_areas WHERE ST_DWithin(ST_SetSRID(ST_MakePoint(lon, lat), "
                    "4326)::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, "
                    "radius_km * 1000, false)"), {"lat": lat, "lon": lon}).all()
            times.append((time.perf_counter() - t) * 1000)
    return round(median(times), 2)


def _burst(url: str, offers: list[tuple[float, float]]) -> dict[str, Any]:
    """POST a burst of offers back to back through the app (match, recipients, one durable event
    per recipient, inbox filing); no socket is connected, so this is the cost of the fan-out's
    writes, not of delivery (the fan-out rows of the table measure that)."""
    import datetime as dt

    from itcook import create_app
    from itcook.extensions import db
    from itcook.signals import nearby_offer_created

    app = create_app({"DATABASE_URL": url, "JWT_SECRET": "bench-" + "x" * 40, "LOG_LEVEL": "WARNING",
                      "EXPIRY_SCAN_INTERVAL": 0.0, "NEARBY_OFFERS_PER_HOUR": 10**6,
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 64, "ARGON2_PARALLELISM": 1})
    client = app.test_client()
    answer = client.post("/api/v1/auth/register",
                         json={"username": "offerer", "password": "bench-pass-1"})
    headers = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    told: list[int] = []

    def count(sender: Any, recipients: list[Any], **_: Any) -> None:
        told.append(len(recipients))

    nearby_offer_created.connect(count, sender=app, weak=False)
    times = []
    started = time.perf_counter()
    for lat, lon in offers:
        t = time.perf_counter()
        response = client.post("/api/v1/nearby/offers", headers=headers, json={
            "title": "Bench soup", "lat": lat, "lon": lon, "pickup_until": until})
        if response.status_code != 201:
            raise RuntimeError(f"offer refused: {response.get_data(as_text=True)}")
        times.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - started
    nearby_offer_created.disconnect(count, sender=app)
    with app.app_context():
        db.engine.dispose()
    return {"offers": len(offers), "notified": sum(told), "seconds": round(wall, 2),
            "notifications_per_s": round(sum(told) / wall) if wall else None,
            "offer_p50_ms": round(percentile(sorted(times), 50), 1),
            "offer_p99_ms": round(percentile(sorted(times), 99), 1)}


def nearby(ctx: Any, database: str) -> dict[str, Any]:
    """Match one offer against 100k areas (p50/p99) and time a burst of offers, on one database."""
    from itcook.nearby.spatial import areas_containing

    p = ctx.params
    n = p.nearby_areas
    rng = random.Random(21)
    pg_name = "itcook_bench_nearby"
    if database == "postgresql":
        if not reachable("127.0.0.1", 5432):
            return {"skipped": "PostgreSQL is not reachable at 127.0.0.1:5432"}
        from bench.scenarios import _pg_database

        url = _pg_database(pg_name)
    else:
        url = ctx.sqlite_url("nearby")
    try:
        engine, build_s = _build(url, n, rng)
        offers = _points(rng, p.nearby_offers)
        times, matched = [], []
        with engine.connect() as conn:
            for lat, lon in offers[:20]:
                areas_containing(conn, lat, lon)  # warm the cache: steady state is measured
            for lat, lon in offers:
                t = time.perf_counter()
                hits = areas_containing(conn, lat, lon)
                times.append((time.perf_counter() - t) * 1000)
                matched.append(len(hits))
        out: dict[str, Any] = {
            "database": database, "areas": n, "build_s": build_s, "offers": len(offers),
            "p50_ms": round(percentile(sorted(times), 50), 2),
            "p99_ms": round(percentile(sorted(times), 99), 2),
            "matched_median": median(matched), "matched_max": max(matched),
            "brute_force_median_ms": _brute_force_ms(engine, offers[:10]),
        }
        engine.dispose()
        out["burst"] = _burst(url, _points(rng, p.nearby_burst))
        out["lost"] = 0
        return out
    finally:
        if database == "postgresql":
            from bench.scenarios import _drop_pg_database

            _drop_pg_database(pg_name)
