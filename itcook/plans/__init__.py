"""Menu plans: a week of meals planned together, edited by server-ordered operations (docs/plans.md)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("plans", __name__, url_prefix="/api/v1/plans")

from itcook.plans import routes  # noqa: E402,F401  (routes attach to bp)
from itcook.plans.access import may_edit  # noqa: E402

__all__ = ["bp", "may_edit"]
