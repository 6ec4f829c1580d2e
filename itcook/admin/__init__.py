"""The admin domain: blueprint, routes and services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")

from itcook.admin import routes  # noqa: E402,F401  (routes attach to bp)
