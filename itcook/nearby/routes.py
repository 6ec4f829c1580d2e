"""Nearby views: my area, offers around a point, offering, claiming, blocking."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, jsonify, request
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.models import utcnow
from itcook.nearby import bp, services
from itcook.nearby.geo import MAX_RADIUS_KM, MIN_RADIUS_KM
from itcook.validation import get_int, get_int_list, get_number, get_str, invalid_field, json_body


def _point(source: dict[str, Any]) -> tuple[float, float]:
    lat = get_number(source, "lat", minimum=-90, maximum=90)
    lon = get_number(source, "lon", minimum=-180, maximum=180)
    assert lat is not None and lon is not None
    return lat, lon


def _radius(source: dict[str, Any]) -> float:
    radius = get_number(source, "radius_km", minimum=MIN_RADIUS_KM, maximum=MAX_RADIUS_KM)
    assert radius is not None
    return radius


def _query_numbers() -> dict[str, Any]:
    # Query strings are text: parse them as numbers, then validate as a JSON body would be.
    values: dict[str, Any] = {}
    for name in ("lat", "lon", "radius_km"):
        raw = request.args.get(name)
        if raw is None:
            continue
        try:
            values[name] = float(raw)
        except ValueError:
            raise invalid_field(name, "must be a number") from None
    return values


def _time(body: dict[str, Any], name: str) -> dt.datetime:
    raw = get_str(body, name, max_len=40)
    assert raw is not None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise invalid_field(name, "must be an ISO 8601 time") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


@bp.put("/area")
@jwt_required()
def put_area() -> Response:
    """Opt in (or move): a point, stored coarsened to ~500 m, and a radius of 0.5–50 km."""
    body = json_body()
    lat, lon = _point(body)
    area = services.set_area(current_user(), lat, lon, _radius(body))
    return jsonify(services.area_to_dict(area))


@bp.get("/area")
@jwt_required()
def get_area() -> Response:
    """The current user's own area (coarsened), or 404 ``not_opted_in``."""
    return jsonify(services.area_to_dict(services.get_area(current_user())))


@bp.delete("/area")
@jwt_required()
def delete_area() -> tuple[str, int]:
    """Opt out: the area is deleted."""
    services.delete_area(current_user())
    return "", 204


@bp.post("/offers")
@jwt_required()
def post_offer() -> tuple[Response, int]:
    """Offer food for pickup; opted-in users whose area holds it get NearbyOffer."""
    body = json_body()
    title = get_str(body, "title", max_len=120)
    lat, lon = _point(body)
    pickup_until = _time(body, "pickup_until")
    item_ids = get_int_list(body, "fridge_item_ids", required=False, max_items=50)
    assert title is not None
    offer = services.create_offer(current_user(), title, lat, lon, pickup_until, item_ids)
    return jsonify(services.offer_to_dict(offer)), 201


@bp.get("/offers")
@jwt_required()
def list_offers() -> Response:
    """Open offers within ``radius_km`` of ``lat``/``lon``, nearest first, with ``distance_km``."""
    values = _query_numbers()
    lat, lon = _point(values)
    items = services.list_offers(current_user(), lat, lon, _radius(values))
    return jsonify({"items": items, "now": utcnow().isoformat(timespec="seconds") + "Z"})


@bp.get("/offers/<int:offer_id>")
@jwt_required()
def show_offer(offer_id: int) -> Response:
    """One offer (its coarsened point and status)."""
    return jsonify(services.offer_to_dict(services.get_offer(current_user(), offer_id)))


@bp.post("/offers/<int:offer_id>/claim")
@jwt_required()
def claim(offer_id: int) -> Response:
    """Claim an offer: the first claim wins; later ones get 409 ``already_claimed``."""
    services.claim_offer(current_user(), offer_id)
    return jsonify({"status": "claimed", "offer_id": offer_id})


@bp.get("/blocks")
@jwt_required()
def list_blocks() -> Response:
    """The users kept away from my offers."""
    return jsonify({"user_ids": services.blocked_ids(current_user())})


@bp.post("/blocks")
@jwt_required()
def add_block() -> tuple[str, int]:
    """Keep ``user_id`` from hearing of, seeing or claiming my offers."""
    user_id = get_int(json_body(), "user_id")
    assert user_id is not None
    services.block(current_user(), user_id)
    return "", 204


@bp.delete("/blocks/<int:user_id>")
@jwt_required()
def remove_block(user_id: int) -> tuple[str, int]:
    """Lift a block."""
    services.unblock(current_user(), user_id)
    return "", 204


