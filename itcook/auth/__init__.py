"""Accounts and tokens: register, login, refresh, me; the admin CLI command."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

from itcook.auth import routes  # noqa: E402,F401  (routes attach to bp)
from itcook.auth.services import admin_required, current_user, init_jwt  # noqa: E402

__all__ = ["admin_required", "bp", "current_user", "init_jwt"]
