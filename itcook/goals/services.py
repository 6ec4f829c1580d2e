"""Personal goals: creation, lookup and progress, with GoalAchieved sent exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.models import Goal, isoformat, utcnow
from itcook.signals import emit, goal_achieved


def goal_to_dict(goal: Goal) -> dict[str, Any]:
    """The JSON shape of a goal."""
    return {
        "id": goal.id,
        "title": goal.title,
        "target_value": goal.target_value,
        "current_value": goal.current_value,
        "unit": goal.unit,
        "achieved": goal.achieved_at is not None,
        "achieved_at": isoformat(goal.achieved_at) if goal.achieved_at else None,
        "created_at": isoformat(goal.created_at),
    }


def create_goal(user_id: int, title: str, target_value: float, unit: str | None) -> Goal:
    """Create a goal for the user and commit."""
    goal = Goal(user_id=user_id, title=title, target_value=target_value, current_value=0.0,
                unit=unit)
    db.session.add(goal)
    db.session.commit()
    return goal


def goals_stmt(user_id: int) -> Select[Any]:
    """The user's goals, newest first."""
    return (select(Goal).where(Goal.user_id == user_id)
            .order_by(Goal.created_at.desc(), Goal.id.desc()))


def get_goal(user_id: int, goal_id: int) -> Goal:
    """Return the user's goal; 404 also for another user's goal (its existence is private)."""
    goal = db.session.get(Goal, goal_id)
    if goal is None or goal.user_id != user_id:
        raise ApiError(404, "not_found", "no such goal")
    return goal


def add_progress(user_id: int, goal_id: int, value: float) -> Goal:
    """Add ``value`` to the goal; the request that first reaches the target sends GoalAchieved.

    Both steps are conditional UPDATEs in the database rather than read-modify-write in
    Python: concurrent progress requests neither lose an increment nor both win the
    achievement, since only one UPDATE can flip ``achieved_at`` from NULL.
    """
    goal = get_goal(user_id, goal_id)
    db.session.execute(
        update(Goal).where(Goal.id == goal.id).values(current_value=Goal.current_value + value)
        .execution_options(synchronize_session=False))
    achieved = db.session.execute(
        update(Goal)
        .where(Goal.id == goal.id, Goal.achieved_at.is_(None),
               Goal.current_value >= Goal.target_value)
        .values(achieved_at=utcnow())
        .execution_options(synchronize_session=False))
    if achieved.rowcount == 1:
        emit(goal_achieved, user_id=user_id, goal_id=goal.id, title=goal.title,
             target_value=goal.target_value, unit=goal.unit)
    db.session.commit()  # also expires ``goal``: the response reads the committed values
    return goal
