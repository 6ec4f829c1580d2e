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


def connect(app: Flask) -> None:
    """Register ``plan:<id>`` (editors only) and connect the receivers above for ``app``."""
    from itcook.plans.access import may_join

    realtime.register_channel(app, "plan", may_join, denied_code="forbidden_channel")
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, sender=app, weak=False)
