"""Recipe views: start a generation, follow its job, read the recipes."""

from __future__ import annotations

from flask import Response, jsonify, url_for
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.recipes import bp
from itcook.recipes.services import (
    get_job,
    get_recipe,
    job_to_dict,
    parse_ingredients,
    recipe_to_dict,
    recipes_stmt,
    start_job,
)
from itcook.validation import json_body, paginate


@bp.post("/generate")
@jwt_required()
def generate() -> tuple[Response, int, dict[str, str]]:
    """Start generating a recipe from the given ingredients (default: the fridge)."""
    ingredients = parse_ingredients(json_body(optional=True))
    job_id = start_job(current_user().id, ingredients)
    return (jsonify({"job_id": job_id, "status": "pending"}), 202,
            {"Location": url_for("recipes.job", job_id=job_id)})


@bp.get("/jobs/<job_id>")
@jwt_required()
def job(job_id: str) -> Response:
    """Return the state of one of the user's generation jobs."""
    return jsonify(job_to_dict(get_job(current_user().id, job_id)))


@bp.get("")
@jwt_required()
def list_recipes() -> Response:
    """List the user's recipes, newest first."""
    recipes, page = paginate(recipes_stmt(current_user().id))
    return jsonify({"items": [recipe_to_dict(recipe) for recipe in recipes], **page})


@bp.get("/<int:recipe_id>")
@jwt_required()
def recipe(recipe_id: int) -> Response:
    """Return one of the user's recipes."""
    return jsonify(recipe_to_dict(get_recipe(current_user().id, recipe_id)))
