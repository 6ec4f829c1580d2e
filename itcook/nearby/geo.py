"""Spherical geometry of Nearby: coarsening, great-circle distance, and a circle's bounding boxes.

Pure functions, no database. The sphere is PostGIS's (``use_spheroid => false``): the WGS 84 mean
radius, so both databases and the test oracle measure the very same distance.
"""

from __future__ import annotations

import math

#: WGS 84 mean radius, the sphere PostGIS measures on with ``use_spheroid => false``.
EARTH_RADIUS_M = 6371008.771415059
#: Latitude step of the coarsening grid: about 500 m.
GRID_DEG = 0.0045
MIN_RADIUS_KM, MAX_RADIUS_KM = 0.5, 50.0

Box = tuple[float, float, float, float]  # min_lat, max_lat, min_lon, max_lon


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in km on the PostGIS sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))) / 1000


def normalize_lon(lon: float) -> float:
    """``lon`` in [-180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def coarsen(lat: float, lon: float) -> tuple[float, float]:
    """The centre of the ~500 m grid cell holding the point: all that is ever stored or shown.

    Rows are ``GRID_DEG`` of latitude; each row is cut into as many equal longitude cells as fit
    ~500 m wide, so cells stay about square up to the poles (where one cell is the whole row).
    """
    row = round(lat / GRID_DEG)
    clat = max(-90.0, min(90.0, row * GRID_DEG))
    cells = max(1, int(360.0 * math.cos(math.radians(clat)) / GRID_DEG))
    step = 360.0 / cells
    clon = normalize_lon(round((lon + 180.0) / step) % cells * step - 180.0)
    return round(clat, 6), round(clon, 6)


def bounding_boxes(lat: float, lon: float, radius_km: float) -> list[Box]:
    """Lat/lon boxes covering the circle: one, or two when it crosses the antimeridian.

    A circle reaching a pole covers every longitude near it, so its box spans them all.
    """
    delta = math.degrees(radius_km * 1000 / EARTH_RADIUS_M)
    pad = 1e-7  # float slack; the exact distance test follows anyway
    min_lat, max_lat = lat - delta - pad, lat + delta + pad
    if max_lat >= 90.0 or min_lat <= -90.0:
        return [(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)]
    # The widest longitude extent of a spherical cap (its tangent meridians).
    ratio = math.sin(math.radians(delta)) / math.cos(math.radians(lat))
    dlon = 180.0 if ratio >= 1.0 else math.degrees(math.asin(ratio)) + pad
    west, east = lon - dlon, lon + dlon
    if dlon >= 180.0:
        return [(min_lat, max_lat, -180.0, 180.0)]
    if west < -180.0:
        return [(min_lat, max_lat, -180.0, east), (min_lat, max_lat, west + 360.0, 180.0)]
    if east > 180.0:
        return [(min_lat, max_lat, west, 180.0), (min_lat, max_lat, -180.0, east - 360.0)]
    return [(min_lat, max_lat, west, east)]
