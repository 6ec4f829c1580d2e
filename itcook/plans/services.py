"""Plans: creating, listing, reading, and applying a batch of operations exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, or_, select

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.groups import is_member
from itcook.models import GroupMember, MenuPlan, MenuPlanEntry, MenuPlanOp, User, utcnow
from itcook.plans.access import editors, get_plan
from itcook.plans.ops import Batch, entry_to_dict, parse_request
from itcook.signals import emit, plan_updated
from itcook.validation import paginate

TITLE_MAX = 100


def plan_to_dict(plan: MenuPlan) -> dict[str, Any]:
    """A plan with its live entries, by day then meal order then id."""
    entries = db.session.scalars(select(MenuPlanEntry).where(
        MenuPlanEntry.plan_id == plan.id, MenuPlanEntry.removed_at.is_(None))
        .order_by(MenuPlanEntry.date, MenuPlanEntry.id))
    return {"id": plan.id, "title": plan.title, "week_start": plan.week_start.isoformat(),
            "group_id": plan.group_id, "owner_id": plan.owner_id, "version": plan.version,
            "entries": [entry_to_dict(entry) for entry in entries]}


def create_plan(owner: User, title: str, week_start: Any, group_id: int | None) -> dict[str, Any]:
    """A new empty plan: personal, or (``group_id``) for a group the owner belongs to."""
    if week_start.weekday() != 0:
        raise ApiError(400, "invalid_field", "week_start: must be a Monday")
    if group_id is not None and not is_member(group_id, owner.id):
        raise ApiError(403, "not_a_member", "only members of this group may plan for it")
    plan = MenuPlan(title=title, week_start=week_start, owner_id=owner.id, group_id=group_id,
                    version=0, created_at=utcnow())
    db.session.add(plan)
    db.session.commit()
    return plan_to_dict(plan)


def list_plans(user: User) -> dict[str, Any]:
    """One page of the plans the user may edit, newest week first."""
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
    stmt = select(MenuPlan).where(or_(
        (MenuPlan.group_id.is_(None)) & (MenuPlan.owner_id == user.id), MenuPlan.group_id.in_(groups))
    ).order_by(MenuPlan.week_start.desc(), MenuPlan.id.desc())
    plans, page = paginate(stmt)
    return {"items": [plan_to_dict(plan) for plan in plans], **page}


def show_plan(user: User, plan_id: int) -> dict[str, Any]:
    """One plan (its editors only)."""
    return plan_to_dict(get_plan(plan_id, user.id))


def apply_ops(user: User, plan_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Apply a batch under the plan's lock, once per ``op_id``; MenuPlanUpdated in its transaction."""
    op_id, ops = parse_request(body)  # malformed: 400 before anything is read
    plan = get_plan(plan_id, user.id, lock=True)
    done = db.session.get(MenuPlanOp, (plan_id, op_id))
    if done is not None:
        db.session.rollback()  # let go of the lock: a retry changes nothing
        if done.user_id != user.id:
            raise ApiError(409, "op_id_taken", "this op_id was used by another editor of the plan")
        return done.result
    batch = Batch(plan, user.id, editors(plan))
    try:
        for index, op in enumerate(ops):
            batch.apply(index, op)
        batch.check_room()
    except ApiError:
        db.session.rollback()  # all or nothing
        raise
    plan.version = batch.version
    result = {"version": batch.version, "results": batch.results}
    db.session.add(MenuPlanOp(plan_id=plan_id, op_id=op_id, user_id=user.id, result=result,
                              created_at=utcnow()))
    emit(plan_updated, plan_id=plan_id, version=batch.version, by=user.id, by_name=user.display_name,
         op_id=op_id, results=batch.results,
         ops=[op.wire(res["entry_id"]) for op, res in zip(ops, batch.results, strict=True)],
         entries=[entry_to_dict(entry) for entry in batch.touched.values()])
    db.session.commit()
    return result


def prune_ops(days: int, now: dt.datetime | None = None) -> int:
    """Forget the accepted batches older than ``days`` (their op_ids may be used again); the count."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    deleted = db.session.execute(delete(MenuPlanOp).where(MenuPlanOp.created_at < cutoff)).rowcount
    db.session.commit()
    return int(deleted or 0)
