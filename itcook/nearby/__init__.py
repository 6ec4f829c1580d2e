"""Nearby: food to share near you (geolocation notifications), with a spatial index per database."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("nearby", __name__, url_prefix="/api/v1/nearby")

from itcook.nearby import routes, spatial  # noqa: E402,F401  (routes attach to bp; DDL listeners)

__all__ = ["bp"]
