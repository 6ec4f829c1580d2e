"""The spatial index answers exactly what a brute-force haversine over every area answers.

Run on SQLite (R*Tree) and, with ITCOOK_TEST_DATABASE_URL, on PostgreSQL (PostGIS): both equal the
oracle, so they equal each other. Areas and offers crowd the antimeridian and the poles.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from itcook.extensions import db
from itcook.models import NearbyArea, User
from itcook.nearby.geo import MAX_RADIUS_KM, MIN_RADIUS_KM, coarsen, distance_km
from itcook.nearby.spatial import areas_containing, write_area

USERS = 24
#: A point this close to a circle's edge may fall either way by float rounding: no such case.
EDGE_KM = 1e-6

_lat = st.one_of(st.floats(-90, 90), st.floats(80, 90), st.floats(-90, -80), st.sampled_from([90.0, -90.0]))
_lon = st.one_of(st.floats(-180, 180), st.floats(179, 180), st.floats(-180, -179))


@st.composite
def _near(draw: Any, anchor: tuple[float, float]) -> tuple[float, float]:
    # Offers near an area's centre, so that "inside" is common, not only "far from everything".
    lat = max(-90.0, min(90.0, anchor[0] + draw(st.floats(-0.6, 0.6))))
    lon = (anchor[1] + draw(st.floats(-1.5, 1.5)) + 180.0) % 360.0 - 180.0
    return lat, lon


@st.composite
def _scenario(draw: Any) -> tuple[list[tuple[float, float, float]], list[tuple[float, float]]]:
    areas = draw(st.lists(st.tuples(_lat, _lon, st.floats(MIN_RADIUS_KM, MAX_RADIUS_KM)),
                          min_size=1, max_size=USERS))
    points = draw(st.lists(st.tuples(_lat, _lon), min_size=1, max_size=6))
    points += [draw(_near(draw(st.sampled_from(areas))[:2])) for _ in range(8)]
    return areas, points


def _store(areas: list[tuple[float, float, float]], user_ids: list[int]) -> list[NearbyArea]:
    db.session.execute(delete(NearbyArea))
    stored = []
    conn = db.session.connection()
    for user_id, (lat, lon, radius) in zip(user_ids, areas, strict=False):
        clat, clon = coarsen(lat, lon)
        area = NearbyArea(user_id=user_id, lat=clat, lon=clon, radius_km=radius)
        db.session.add(area)
        db.session.flush()
        write_area(conn, user_id, clat, clon, radius)
        stored.append(area)
    db.session.commit()
    return stored


def test_the_index_matches_the_brute_force_oracle(app) -> None:
    with app.app_context():
        users = [User(username=f"u{i}", display_name=f"u{i}", password_hash="-") for i in range(USERS)]
        db.session.add_all(users)
        db.session.commit()
        user_ids = [u.id for u in users]

        @settings(max_examples=60, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(_scenario())
        def check(scenario: tuple[list[tuple[float, float, float]], list[tuple[float, float]]]) -> None:
            areas, points = scenario
            stored = [(a.user_id, a.lat, a.lon, a.radius_km) for a in _store(areas, user_ids)]
            for lat, lon in points:
                distances = {u: distance_km(alat, alon, lat, lon) for u, alat, alon, _ in stored}
                edge = {u for u, _, _, r in stored if abs(distances[u] - r) < EDGE_KM}
                oracle = {u for u, _, _, r in stored if distances[u] <= r} - edge
                found = {h.user_id for h in areas_containing(db.session.connection(), lat, lon)} - edge
                assert found == oracle, (lat, lon, stored)
            db.session.rollback()

        check()
        assert db.session.scalar(select(NearbyArea.user_id).limit(1)) is not None


def test_known_hard_cases_across_the_antimeridian_and_the_poles(app) -> None:
    cases = [
        ((0.0, 179.99, 20.0), (0.0, -179.9), True),     # across the antimeridian, 13 km
        ((-16.0, -179.95, 15.0), (-16.0, 179.95), True),  # 10.7 km
        ((0.0, 179.99, 5.0), (0.0, -179.9), False),
        ((89.9, 0.0, 30.0), (89.9, 180.0), True),       # over the north pole, 22 km
        ((89.9, 0.0, 30.0), (90.0, 0.0), True),         # the pole itself
        ((-89.95, 45.0, 15.0), (-89.95, -135.0), True),  # over the south pole, 11 km
        ((70.0, 10.0, 50.0), (70.0, 11.2), True),        # high latitude: a degree is ~38 km
        ((70.0, 10.0, 50.0), (70.0, 11.5), False),
    ]
    with app.app_context():
        users = [User(username=f"h{i}", display_name="h", password_hash="-") for i in range(len(cases))]
        db.session.add_all(users)
        db.session.commit()
        for user, ((lat, lon, radius), point, inside) in zip(users, cases, strict=True):
            stored = _store([(lat, lon, radius)], [user.id])[0]
            truth = distance_km(stored.lat, stored.lon, *point) <= radius
            assert truth is inside, (lat, lon, radius, point)
            found = [h.user_id for h in areas_containing(db.session.connection(), *point)]
            assert found == ([user.id] if inside else []), (lat, lon, radius, point)


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(_lat, _lon)
def test_coarsening_moves_a_point_less_than_half_a_cell_and_is_stable(lat: float, lon: float) -> None:
    cell = coarsen(lat, lon)
    # A ~500 m cell: its centre is at most half a diagonal (~0.36 km, a little more by rounding) away.
    assert distance_km(lat, lon, *cell) < 0.4
    assert coarsen(*cell) == cell  # the stored point is a cell centre, whatever coarsens it again
    assert -90 <= cell[0] <= 90 and -180 <= cell[1] < 180
