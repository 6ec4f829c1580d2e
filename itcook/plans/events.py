"""The plans domain in the real-time plugin: the ``plan:<id>`` channel kind, and losing a
group's membership takes the user off its plans' channels. Its events (MenuPlanUpdated,
ShoppingItemChecked) are rows of the table in ``itcook/live.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from itcook import signals
from itcook.extensions import realtime


def member_removed(sender: Flask, *, group_id: int, user_id: int, **_: Any) -> None:
    """A user who left a group leaves its plans' channels too."""
    from itcook.extensions import db
    from itcook.models import MenuPlan

    for plan_id in db.session.scalars(select(MenuPlan.id).where(MenuPlan.group_id == group_id)):
        realtime.revoke(f"plan:{plan_id}", user_id)


RECEIVERS = ((signals.group_member_removed, member_removed),)


PRUNE_JOB = "plans-prune-ops"


def connect(app: Flask) -> None:
    """Register ``plan:<id>`` (editors only), connect the receivers above for ``app``, and
    the hourly job that forgets old batches' op_ids."""
    from itcook import jobs
    from itcook.plans.access import may_join
    from itcook.plans.services import prune_ops

    realtime.register_channel(app, "plan", may_join, denied_code="forbidden_channel")
    days = app.config["PLAN_OP_RETENTION_DAYS"]
    if days < 0:
        raise RuntimeError(f"ITCOOK_PLAN_OP_RETENTION_DAYS: must be 0 or more, not {days}")
    jobs.register(app, PRUNE_JOB, 3600.0 if days else 0.0, lambda: prune_ops(days))
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, sender=app, weak=False)
