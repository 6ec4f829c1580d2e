"""Who may see and edit a plan: its owner (personal plan) or its group's members."""

from __future__ import annotations

from sqlalchemy import select

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.groups import is_member
from itcook.locking import lock_for_update
from itcook.models import GroupMember, MenuPlan
from itcook.validation import is_row_id


def may_edit(plan: MenuPlan, user_id: int) -> bool:
    """Whether ``user_id`` may read and edit ``plan`` (and join ``plan:<id>``)."""
    if plan.group_id is None:
        return plan.owner_id == user_id
    return is_member(plan.group_id, user_id)


def may_join(user_id: int, plan_id: int) -> bool:
    """The ``plan:<id>`` channel's authorizer."""
    plan = db.session.get(MenuPlan, plan_id) if is_row_id(plan_id) else None
    return plan is not None and may_edit(plan, user_id)


def editors(plan: MenuPlan) -> list[int]:
    """The users who may edit ``plan``: its owner, or its group's members."""
    if plan.group_id is None:
        return [plan.owner_id]
    return list(db.session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == plan.group_id)
                                   .order_by(GroupMember.user_id)))


def get_plan(plan_id: int, user_id: int, *, lock: bool = False) -> MenuPlan:
    """The plan if ``user_id`` may edit it; 404 if there is none, 403 if not theirs.

    ``lock``: hold the plan's row until the commit, so that concurrent batches of operations
    on one plan apply one after the other (``itcook.locking``).
    """
    if not is_row_id(plan_id) or (lock and not lock_for_update(MenuPlan, plan_id)):
        raise ApiError(404, "not_found", "plan not found")
    plan = db.session.get(MenuPlan, plan_id)
    if plan is None:
        raise ApiError(404, "not_found", "plan not found")
    if not may_edit(plan, user_id):
        raise ApiError(403, "not_a_member",
                       "only the owner of this plan, or its group's members, may do this")
    return plan
