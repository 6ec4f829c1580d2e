"""Groups (cooking clubs): owners, members, invitations, posts and the ``group:<id>`` channel."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("groups", __name__, url_prefix="/api/v1/groups")

from itcook.groups import routes  # noqa: E402,F401  (routes attach to bp)
from itcook.groups.services import is_member  # noqa: E402

__all__ = ["bp", "is_member"]
