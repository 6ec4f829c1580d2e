"""Plan signals -> real-time events, written in the transaction of the change (docs/outbox.md).

All of the plans domain's events are here, so that the host's table of events can take them in
as rows: MenuPlanUpdated and ShoppingItemChecked (durable, on ``plan:<id>``); losing a group's
membership takes the user off its plans' channels.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from itcook import signals
from itcook.extensions import realtime


def plan_updated(sender: Flask, *, plan_id: int, version: int, by: int, by_name: str, op_id: str,
                 ops: list[dict[str, Any]], results: list[dict[str, Any]],
                 entries: list[dict[str, Any]], **_: Any) -> None:
    """MenuPlanUpdated on ``plan:<id>``: enough for a client to rebuild the plan from events."""
    realtime.publish(f"plan:{plan_id}", "MenuPlanUpdated", {
        "plan_id": plan_id, "version": version, "by": by, "by_name": by_name, "op_id": op_id,
        "ops": ops, "results": results, "entries": entries}, app=sender)


def shopping_item_checked(sender: Flask, *, plan_id: int, name: str, checked: bool, by: int,
                          **_: Any) -> None:
    """ShoppingItemChecked on ``plan:<id>``."""
    realtime.publish(f"plan:{plan_id}", "ShoppingItemChecked",
                     {"plan_id": plan_id, "name": name, "checked": checked, "by": by}, app=sender)


def member_removed(sender: Flask, *, group_id: int, user_id: int, **_: Any) -> None:
    """A user who left a group leaves its plans' channels too."""
    from itcook.extensions import db
    from itcook.models import MenuPlan

    for plan_id in db.session.scalars(select(MenuPlan.id).where(MenuPlan.group_id == group_id)):
        realtime.revoke(f"plan:{plan_id}", user_id)


RECEIVERS = ((signals.plan_updated, plan_updated), (signals.shopping_item_checked, shopping_item_checked),
             (signals.group_member_removed, member_removed))


def connect(app: Flask) -> None:
    """Register ``plan:<id>`` (editors only) and connect the receivers above for ``app``."""
    from itcook.plans.access import may_join

    realtime.register_channel(app, "plan", may_join, denied_code="forbidden_channel")
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, sender=app, weak=False)
