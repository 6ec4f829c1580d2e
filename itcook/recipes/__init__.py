"""The recipes domain: blueprint, routes, services and the recipe generators."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("recipes", __name__, url_prefix="/api/v1/recipes")

from itcook.recipes import routes  # noqa: E402,F401  (routes attach to bp)
from itcook.recipes.services import EXTENSION_KEY, RecipesState  # noqa: E402


def init_app(app: Flask) -> None:
    """Choose the generator (a bad ``RECIPE_*`` setting fails here, at start-up) and keep the
    registry of running job greenlets in ``app.extensions["itcook.recipes"]``."""
    app.extensions[EXTENSION_KEY] = RecipesState.from_config(app.config)


__all__ = ["EXTENSION_KEY", "RecipesState", "bp", "init_app"]
