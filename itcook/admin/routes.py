"""Admin views: system notifications and account management (administrators only)."""

from __future__ import annotations

from flask import Response, jsonify

from itcook.admin import bp, services
from itcook.auth.services import admin_required, current_user
from itcook.validation import get_int, get_str, invalid_field, json_body


@bp.post("/notifications")
@admin_required
def send_notification() -> tuple[Response, int]:
    """Send a system notification to one user or to everyone."""
    body = json_body()
    title = get_str(body, "title", max_len=200)
    message = get_str(body, "message", max_len=2000)
    level = get_str(body, "level", required=False, default="info", max_len=16)
    if level not in services.LEVELS:
        raise invalid_field("level", "must be one of %(choices)s", choices=", ".join(services.LEVELS))
    user_id = get_int(body, "user_id", required=False)
    assert title is not None and message is not None
    return jsonify(services.send_notification(title, message, level, user_id)), 201


@bp.get("/users")
@admin_required
def list_users() -> Response:
    """Every account, paginated."""
    return jsonify(services.list_users())


@bp.post("/users/<int:user_id>/disable")
@admin_required
def disable_user(user_id: int) -> Response:
    """Disable an account: its tokens stop working and its live connections close."""
    return jsonify(services.set_active(current_user(), user_id, False))


@bp.post("/users/<int:user_id>/enable")
@admin_required
def enable_user(user_id: int) -> Response:
    """Enable an account again."""
    return jsonify(services.set_active(current_user(), user_id, True))


@bp.delete("/users/<int:user_id>")
@admin_required
def delete_user(user_id: int) -> tuple[str, int]:
    """Delete an account and everything it owns."""
    services.delete_user(current_user(), user_id)
    return "", 204
