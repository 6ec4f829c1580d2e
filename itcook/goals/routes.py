"""Goal views: create, list, show, and add progress."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.goals import bp
from itcook.goals.services import add_progress, create_goal, get_goal, goal_to_dict, goals_stmt
from itcook.validation import get_number, get_str, json_body, paginate


@bp.post("")
@jwt_required()
def add_goal() -> tuple[Response, int]:
    """Create a goal for the current user."""
    body = json_body()
    title = get_str(body, "title", max_len=200)
    target_value = get_number(body, "target_value", minimum=0, exclusive_minimum=True)
    unit = get_str(body, "unit", required=False, max_len=20)
    assert title is not None and target_value is not None
    goal = create_goal(current_user().id, title, target_value, unit)
    return jsonify(goal_to_dict(goal)), 201


@bp.get("")
@jwt_required()
def list_goals() -> Response:
    """List the current user's goals, newest first."""
    goals, page = paginate(goals_stmt(current_user().id))
    return jsonify({"items": [goal_to_dict(g) for g in goals], **page})


@bp.get("/<int:goal_id>")
@jwt_required()
def show_goal(goal_id: int) -> Response:
    """Return one of the current user's goals."""
    return jsonify(goal_to_dict(get_goal(current_user().id, goal_id)))


@bp.post("/<int:goal_id>/progress")
@jwt_required()
def progress(goal_id: int) -> Response:
    """Add progress to a goal; reaching the target sends GoalAchieved once."""
    body = json_body()
    value = get_number(body, "value", minimum=0, exclusive_minimum=True, maximum=1e9)
    assert value is not None
    return jsonify(goal_to_dict(add_progress(current_user().id, goal_id, value)))

