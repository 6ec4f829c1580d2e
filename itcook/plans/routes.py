"""Plan views: plans, their operations and their shopping list."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.errors import ApiError
from itcook.plans import bp, services, shopping
from itcook.validation import get_bool, get_date, get_int, get_str, json_body


@bp.post("")
@jwt_required()
def create_plan() -> tuple[Response, int]:
    """A new plan for the week starting ``week_start`` (a Monday); ``group_id``: a group's."""
    body = json_body()
    title = get_str(body, "title", max_len=services.TITLE_MAX)
    week_start = get_date(body, "week_start")
    group_id = get_int(body, "group_id", required=False)
    return jsonify(services.create_plan(current_user(), title, week_start, group_id)), 201


@bp.get("")
@jwt_required()
def list_plans() -> Response:
    """The plans the caller may edit (their own, their groups'), newest week first."""
    return jsonify(services.list_plans(current_user()))


@bp.get("/<int:plan_id>")
@jwt_required()
def show_plan(plan_id: int) -> Response:
    """One plan with its entries."""
    return jsonify(services.show_plan(current_user(), plan_id))


@bp.post("/<int:plan_id>/ops")
@jwt_required()
def post_ops(plan_id: int) -> Response:
    """Apply a batch of operations in order, atomically, once per ``op_id``."""
    return jsonify(services.apply_ops(current_user(), plan_id, json_body()))


@bp.get("/<int:plan_id>/shopping-list")
@jwt_required()
def shopping_list(plan_id: int) -> Response:
    """What the plan's recipes need, scaled by servings, minus the fridge."""
    return jsonify(shopping.shopping_list(current_user(), plan_id))


@bp.post("/<int:plan_id>/shopping-list/check")
@jwt_required()
def check_item(plan_id: int) -> Response:
    """Check an item off (or back on); the plan's editors hear ShoppingItemChecked."""
    body = json_body()
    name = get_str(body, "name", max_len=shopping.NAME_MAX)
    if "checked" not in body:
        raise ApiError(400, "missing_field", "checked is required")
    return jsonify(shopping.check(current_user(), plan_id, name, get_bool(body, "checked")))
