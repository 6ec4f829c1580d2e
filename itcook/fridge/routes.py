"""Fridge views: the user's items, what expires soon, and announcing it now."""

from __future__ import annotations

from flask import Response, current_app, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.fridge import bp
from itcook.fridge.services import (
    MAX_EXPIRY_DAYS,
    create_item,
    delete_item,
    expiring_items,
    get_item,
    item_to_dict,
    items_stmt,
    notify_expiring,
    today_utc,
)
from itcook.validation import get_date, get_number, get_str, json_body, paginate, query_int


def _days() -> int:
    return query_int("days", current_app.config["EXPIRY_SCAN_DAYS"], minimum=0,
                     maximum=MAX_EXPIRY_DAYS)


@bp.post("/items")
@jwt_required()
def add_item() -> tuple[Response, int]:
    """Put an item in the current user's fridge."""
    body = json_body()
    name = get_str(body, "name", max_len=100)
    quantity = get_number(body, "quantity", required=False, minimum=0, exclusive_minimum=True)
    unit = get_str(body, "unit", required=False, max_len=20)
    expires_on = get_date(body, "expires_on")
    assert name is not None and expires_on is not None
    item = create_item(current_user().id, name, quantity, unit, expires_on)
    return jsonify(item_to_dict(item)), 201


@bp.get("/items")
@jwt_required()
def list_items() -> Response:
    """List the current user's items, soonest expiry first."""
    items, page = paginate(items_stmt(current_user().id))
    today = today_utc()
    return jsonify({"items": [item_to_dict(i, today) for i in items], **page})


@bp.get("/items/expiring")
@jwt_required()
def list_expiring() -> Response:
    """List the items expiring within ``?days=`` (expired ones included)."""
    days = _days()
    today = today_utc()
    items = expiring_items(current_user().id, days, today)
    return jsonify({"days": days, "items": [item_to_dict(i, today) for i in items]})


@bp.get("/items/<int:item_id>")
@jwt_required()
def show_item(item_id: int) -> Response:
    """Return one of the current user's items."""
    return jsonify(item_to_dict(get_item(current_user().id, item_id)))


@bp.delete("/items/<int:item_id>")
@jwt_required()
def remove_item(item_id: int) -> tuple[str, int]:
    """Remove one of the current user's items."""
    delete_item(current_user().id, item_id)
    return "", 204


@bp.post("/notify-expiring")
@jwt_required()
def notify() -> Response:
    """Announce the expiring items not yet announced today (ExpiringItems)."""
    days = _days()
    items = notify_expiring(current_user().id, days)
    return jsonify({"days": days, "announced": len(items), "items": items})
