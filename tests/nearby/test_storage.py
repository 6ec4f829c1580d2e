"""What Nearby leaves in the database: no exact coordinate in any table, and a spatial index the
matching query really uses (R*Tree on SQLite, GiST on PostGIS)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, text

from itcook.extensions import db
from itcook.nearby import spatial

EXACT = (55.751234, 37.618765)
#: The exact point to ~10 m: no stored text may hold these (the coarsened cell is 55.7505, 37.6…).
TELLTALES = ("55.7512", "37.6187")


def test_no_table_holds_an_exact_coordinate(app, client, auth) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    for user in (boris, carol):
        assert client.put("/api/v1/nearby/area", headers=user["headers"],
                          json={"lat": EXACT[0], "lon": EXACT[1], "radius_km": 5}).status_code == 200
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    offer = client.post("/api/v1/nearby/offers", headers=anna["headers"], json={
        "title": "Soup", "lat": EXACT[0], "lon": EXACT[1], "pickup_until": until}).get_json()
    assert client.get(f"/api/v1/nearby/offers?lat={EXACT[0]}&lon={EXACT[1]}&radius_km=5",
                      headers=carol["headers"]).get_json()["items"]
    assert client.post(f"/api/v1/nearby/offers/{offer['id']}/claim",
                       headers=boris["headers"]).status_code == 200
    with app.app_context():
        conn = db.session.connection()
        tables = inspect(conn).get_table_names()
        assert {"nearby_areas", "nearby_offers", "notifications"} <= set(tables)
        dumped = {name: repr(conn.execute(text(f'SELECT * FROM "{name}"')).all()) for name in tables}
    assert "NearbyOffer" in " ".join(dumped.values())  # the events and the inbox were written
    leaks = {name: telltale for name, rows in dumped.items() for telltale in TELLTALES if telltale in rows}
    assert leaks == {}


def _plan(sql: str, sqlite: bool) -> str:
    conn = db.session.connection()
    if sqlite:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (EXACT[0],) * 2 + (EXACT[1],) * 2).all()
        return "\n".join(str(r[-1]) for r in rows)
    # A handful of test rows make a sequential scan cheaper: forbid it, to see the index serves.
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = conn.execute(text("EXPLAIN " + sql), {"lat": EXACT[0], "lon": EXACT[1]}).all()
    return "\n".join(r[0] for r in rows)


def test_the_match_probes_the_spatial_index(app, client, auth) -> None:
    boris = auth.register("boris")
    client.put("/api/v1/nearby/area", headers=boris["headers"],
               json={"lat": EXACT[0], "lon": EXACT[1], "radius_km": 5})
    with app.app_context():
        sqlite = db.session.get_bind().dialect.name == "sqlite"
        if sqlite:
            sql = spatial._SQLITE_MATCH.text.replace(":lat", "?").replace(":lon", "?")
            # Parameters in textual order: :lat, :lat, :lon, :lon.
            plan = _plan(sql, sqlite=True)
            # "INDEX 2:…" is the R*Tree's own box search (index 1 would be a rowid lookup).
            assert "VIRTUAL TABLE INDEX 2:" in plan, plan
        else:
            plan = _plan(spatial._POSTGRES_MATCH.text, sqlite=False)
            assert "ix_nearby_areas_circle" in plan and "Seq Scan" not in plan, plan
        db.session.rollback()
