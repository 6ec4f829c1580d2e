"""Push views: the VAPID public key, subscriptions, preferences."""

from __future__ import annotations

from flask import Response, current_app, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.errors import ApiError
from itcook.push import bp, services
from itcook.push.vapid import public_key
from itcook.validation import get_str, json_body


@bp.get("/vapid-public-key")
def vapid_public_key() -> Response:
    """The ``applicationServerKey`` for ``pushManager.subscribe`` (public, no token needed)."""
    vapid = current_app.extensions["push"].vapid()
    if vapid is None:
        raise ApiError(503, "push_not_configured", "Web Push is not configured on this server")
    return jsonify({"public_key": public_key(vapid)})


@bp.post("/subscriptions")
@jwt_required()
def subscribe() -> tuple[Response, int]:
    """Store the browser's ``PushSubscription`` JSON: 201 when new, 200 when known."""
    endpoint, p256dh, auth = services.parse_subscription(json_body())
    body, created = services.subscribe(current_user(), endpoint, p256dh, auth)
    return jsonify(body), 201 if created else 200


@bp.delete("/subscriptions")
@jwt_required()
def unsubscribe() -> tuple[str, int]:
    """Forget the subscription with this ``endpoint`` (idempotent)."""
    endpoint = get_str(json_body(), "endpoint", max_len=services.ENDPOINT_MAX, strip=False)
    assert endpoint is not None
    services.unsubscribe(current_user(), endpoint)
    return "", 204


@bp.get("/subscriptions")
@jwt_required()
def list_subscriptions() -> Response:
    """The caller's subscriptions."""
    return jsonify(services.list_subscriptions(current_user()))


@bp.get("/preferences")
@jwt_required()
def get_preferences() -> Response:
    """Which notification types are pushed: ``{"event_types": {type: bool}}``."""
    return jsonify(services.preferences(current_user()))


@bp.put("/preferences")
@jwt_required()
def put_preferences() -> Response:
    """Turn types on or off; types not named keep their setting."""
    changes = services.parse_preferences(json_body())
    return jsonify(services.update_preferences(current_user(), changes))
