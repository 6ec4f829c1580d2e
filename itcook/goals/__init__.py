"""The goals domain: blueprint, routes and services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("goals", __name__, url_prefix="/api/v1/goals")

from itcook.goals import routes  # noqa: E402,F401  (routes attach to bp)

__all__ = ["bp"]
