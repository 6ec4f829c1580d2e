"""Inbox views: list, unread count, mark read."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.errors import ApiError
from itcook.notifications import bp, services
from itcook.validation import MAX_EVENT_ID, get_int, get_int_list, json_body, query_bool


@bp.get("")
@jwt_required()
def list_notifications() -> Response:
    """The user's notifications, newest first; ``?unread=true`` keeps the unread ones."""
    return jsonify(services.list_notifications(current_user(), query_bool("unread")))


@bp.get("/unread-count")
@jwt_required()
def unread_count() -> Response:
    """How many notifications are unread (the badge)."""
    return jsonify({"unread_count": services.unread_count(current_user().id)})


@bp.post("/read")
@jwt_required()
def mark_read() -> Response:
    """Mark ``ids`` read, or every notification with an id up to ``up_to_id``."""
    body = json_body()
    if body.get("ids") is not None and body.get("up_to_id") is not None:
        raise ApiError(400, "invalid_field", "ids, up_to_id: give one of them, not both")
    if body.get("ids") is None and body.get("up_to_id") is None:
        raise ApiError(400, "missing_field", "ids or up_to_id is required")
    ids = get_int_list(body, "ids", required=False, maximum=MAX_EVENT_ID)
    up_to_id = None if ids is not None else get_int(body, "up_to_id", maximum=MAX_EVENT_ID)
    return jsonify(services.mark_read(current_user(), ids, up_to_id))
