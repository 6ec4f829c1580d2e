"""The community domain: blueprint, routes and services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("community", __name__, url_prefix="/api/v1/community")

from itcook.community import routes  # noqa: E402,F401  (routes attach to bp)
from itcook.community.services import post_exists  # noqa: E402

__all__ = ["bp", "post_exists"]
