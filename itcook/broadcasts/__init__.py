"""Live broadcasts: one cook, many viewers, with steps, chat, reactions and video (docs/live.md)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("broadcasts", __name__, url_prefix="/api/v1/live")

from itcook.broadcasts import routes  # noqa: E402,F401  (routes attach to bp)
