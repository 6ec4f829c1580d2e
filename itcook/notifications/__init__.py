"""The notification inbox: personal events kept per user, listed and marked read."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/api/v1/notifications")

from itcook.notifications import routes  # noqa: E402,F401  (routes attach to bp)
from itcook.notifications.services import record  # noqa: E402
from itcook.notifications.texts import PUSH_TYPES, describe, is_notification  # noqa: E402

__all__ = ["PUSH_TYPES", "bp", "describe", "is_notification", "record"]
