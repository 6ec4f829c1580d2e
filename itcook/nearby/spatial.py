"""The spatial index of opted-in areas: "which areas contain this point", on either database.

Each area is a circle (a coarsened centre and its own radius), so the index holds each circle's
extent, not its centre:

- SQLite: an R*Tree virtual table (``nearby_area_boxes``) of lat/lon bounding boxes, two for a
  circle across the antimeridian (row id = ``user_id * 2 + part``), kept by ``write_area``; a
  trigger removes them with the area. The point query returns the boxes holding it; the exact
  great-circle distance then decides.
- PostgreSQL: PostGIS. A stored generated geography column ``circle`` (the centre buffered a
  little beyond the radius, so the polygon's straight edges never cut into the circle) with a
  GiST index: ``circle && point`` is the index probe; ``ST_DWithin(centre, point, radius, false)``
  then decides on the same sphere as SQLite. Geography boxes are geocentric, so the antimeridian
  and the poles need no special case.

Both DDL sets run from ``create_all`` (listeners below) and, verbatim, from the migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from itcook.models import NearbyArea
from itcook.nearby.geo import bounding_boxes, distance_km

#: Names the spatial index adds beside the models (R*Tree shadow tables, PostGIS's own table and
#: the generated column and its index): a schema comparison against the models ignores them.
SPATIAL_NAMES = frozenset({
    "nearby_area_boxes", "nearby_area_boxes_node", "nearby_area_boxes_parent",
    "nearby_area_boxes_rowid", "spatial_ref_sys", "circle", "ix_nearby_areas_circle",
})

SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS nearby_area_boxes USING rtree("
    "id, min_lat, max_lat, min_lon, max_lon)",
    "CREATE TRIGGER IF NOT EXISTS nearby_areas_boxes_delete AFTER DELETE ON nearby_areas BEGIN "
    "DELETE FROM nearby_area_boxes WHERE id IN (old.user_id * 2, old.user_id * 2 + 1); END",
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS nearby_areas_boxes_delete",
               "DROP TABLE IF EXISTS nearby_area_boxes")

POSTGIS_MISSING = ("Nearby needs PostGIS on PostgreSQL: install the server package "
                   "(Debian: postgresql-<version>-postgis-3) and let the migration create the extension")
# 5 % + 100 m beyond the radius: ST_Buffer's 64-gon (edges sag 0.12 %) and its local projection
# (a few % of scale error near the poles) must still cover the whole circle.
POSTGRES_DDL = (
    "ALTER TABLE nearby_areas ADD COLUMN circle geography(Polygon, 4326) GENERATED ALWAYS AS "
    "(ST_Buffer(ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, radius_km * 1050 + 100, 16)) "
    "STORED",
    "CREATE INDEX ix_nearby_areas_circle ON nearby_areas USING gist (circle)",
)

_SQLITE_MATCH = text(
    "SELECT DISTINCT a.user_id, a.lat, a.lon, a.radius_km FROM nearby_area_boxes b "
    "JOIN nearby_areas a ON a.user_id = b.id / 2 "
    "WHERE b.min_lat <= :lat AND b.max_lat >= :lat AND b.min_lon <= :lon AND b.max_lon >= :lon")
_POSTGRES_MATCH = text(
    "WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS pt) "
    "SELECT a.user_id, a.lat, a.lon, a.radius_km FROM nearby_areas a, p "
    "WHERE a.circle && p.pt "
    "AND ST_DWithin(ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4326)::geography, p.pt, "
    "a.radius_km * 1000, false)")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: the spatial index is not part of the models' schema."""
    return name not in SPATIAL_NAMES


@dataclass(frozen=True, slots=True)
class AreaHit:
    """An area holding the point, and how far its centre is (km)."""

    user_id: int
    distance_km: float


def ensure_postgis(conn: Connection, extension: str = "postgis") -> None:
    """Create the PostGIS extension, or fail with a message saying what to install."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
    except DBAPIError as exc:
        raise RuntimeError(f"{POSTGIS_MISSING} ({exc.orig})") from exc


def write_area(conn: Connection, user_id: int, lat: float, lon: float, radius_km: float) -> None:
    """Index the user's (already written) area; on PostgreSQL the generated column does it."""
    if conn.dialect.name != "sqlite":
        return
    conn.execute(text("DELETE FROM nearby_area_boxes WHERE id IN (:a, :b)"),
                 {"a": user_id * 2, "b": user_id * 2 + 1})
    rows = [{"id": user_id * 2 + i, "a": b[0], "b": b[1], "c": b[2], "d": b[3]}
            for i, b in enumerate(bounding_boxes(lat, lon, radius_km))]
    conn.execute(text("INSERT INTO nearby_area_boxes VALUES (:id, :a, :b, :c, :d)"), rows)


def areas_containing(conn: Connection, lat: float, lon: float) -> list[AreaHit]:
    """Every area whose circle holds the point, nearest centre first."""
    sqlite = conn.dialect.name == "sqlite"
    rows = conn.execute(_SQLITE_MATCH if sqlite else _POSTGRES_MATCH, {"lat": lat, "lon": lon})
    hits = []
    for user_id, alat, alon, radius_km in rows:
        d = distance_km(alat, alon, lat, lon)
        # SQLite: the boxes were a prefilter, this is the test. PostgreSQL: ST_DWithin decided.
        if not sqlite or d <= radius_km:
            hits.append(AreaHit(user_id, d))
    hits.sort(key=lambda h: (h.distance_km, h.user_id))
    return hits


def _after_create(target: object, conn: Connection, **_: object) -> None:
    if conn.dialect.name == "sqlite":
        for statement in SQLITE_DDL:
            conn.exec_driver_sql(statement)
    elif conn.dialect.name == "postgresql":
        ensure_postgis(conn)
        for statement in POSTGRES_DDL:
            conn.exec_driver_sql(statement)


def _before_drop(target: object, conn: Connection, **_: object) -> None:
    if conn.dialect.name == "sqlite":
        for statement in SQLITE_DROP:
            conn.exec_driver_sql(statement)


event.listen(NearbyArea.__table__, "after_create", _after_create)
event.listen(NearbyArea.__table__, "before_drop", _before_drop)

__all__ = ["SPATIAL_NAMES", "AreaHit", "include_name", "areas_containing", "ensure_postgis", "write_area"]
