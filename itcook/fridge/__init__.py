"""The fridge domain: blueprint, routes and services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("fridge", __name__, url_prefix="/api/v1/fridge")


def init_app(app):  # noqa: ANN001,ANN201 - placeholder replaced by the fridge work
    """Start the periodic expiry scan (filled in by the fridge domain)."""
