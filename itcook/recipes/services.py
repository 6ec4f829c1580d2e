"""Recipe jobs: accept a request, generate off the request in a greenlet, store and announce.

A job row is committed ``pending`` before its greenlet starts; the greenlet ends it ``done``
(with a recipe) or ``failed`` (with a short error) through a conditional update, so a job is
finished exactly once and its signal is sent exactly once, after the commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import gevent
from flask import Flask, current_app
from gevent.greenlet import Greenlet
from sqlalchemy import Select, func, select, update

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.i18n import N_
from itcook.locking import lock_for_update
from itcook.models import FridgeItem, Recipe, RecipeJob, User, isoformat, utcnow
from itcook.recipes.generators import GenerationError, Generator, make_generator, parse_draft
from itcook.signals import emit, recipe_failed, recipe_generated
from itcook.validation import invalid_field, unstorable

log = logging.getLogger(__name__)

EXTENSION_KEY = "itcook.recipes"
MAX_INGREDIENTS = 30
MAX_INGREDIENT_LEN = 100
MAX_PENDING_JOBS = 3  # per user: each pending job may hold an HTTP call to a paid service
MAX_ERROR_LEN = 300


@dataclass
class RecipesState:
    """Per-app state: the generator and the greenlets of the jobs running in this process."""

    generator: Generator
    # A job that stays pending this long lost its greenlet (a restart); it is failed on sight.
    stale_after: dt.timedelta = dt.timedelta(minutes=10)
    max_pending: int = MAX_PENDING_JOBS
    jobs: dict[str, Greenlet] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RecipesState:
        """Build the state; a bad generator setting raises ``ValueError`` here, at start-up."""
        generator = make_generator(config)
        timeout = float(config.get("RECIPE_HTTP_TIMEOUT") or 0)
        return cls(generator=generator, stale_after=dt.timedelta(seconds=max(600.0, 3 * timeout)))

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        """Wait for a running job of this process; True once it is no longer running."""
        greenlet = self.jobs.get(job_id)
        if greenlet is None:
            return True
        greenlet.join(timeout)
        return bool(greenlet.dead)


def state(app: Flask | None = None) -> RecipesState:
    """The recipes state of ``app`` (default: the current app)."""
    app = app or cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    return cast(RecipesState, app.extensions[EXTENSION_KEY])


def _item(index: int) -> str:
    return "ingredients[" + str(index) + "]"


def parse_ingredients(body: Mapping[str, Any]) -> list[str] | None:
    """The ``ingredients`` field tidied and de-duplicated, or None when it is absent."""
    value = body.get("ingredients")
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid_field("ingredients", "must be a list of strings")
    if not 1 <= len(value) <= MAX_INGREDIENTS:
        raise invalid_field("ingredients", "must have 1 to %(limit)d items", limit=MAX_INGREDIENTS)
    names: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid_field(_item(i), "must be a string")
        name = " ".join(item.split())
        if not name:
            raise invalid_field(_item(i), "must not be empty")
        if len(name) > MAX_INGREDIENT_LEN:
            raise invalid_field(_item(i), "must be at most %(limit)d characters long",
                                limit=MAX_INGREDIENT_LEN)
        if any(unicodedata.category(ch) == "Cc" for ch in name):
            raise invalid_field(_item(i), "must not contain control characters")
        if problem := unstorable(name):  # JSON's "\ud800": no UTF-8 form
            raise invalid_field(_item(i), problem)
        # "Egg" and "egg " are one ingredient; the first spelling is kept.
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return names


def fridge_ingredients(user_id: int) -> list[str]:
    """Names of the user's unexpired fridge items, soonest-expiring first (at most 30)."""
    rows = db.session.scalars(
        select(FridgeItem.name)
        .where(FridgeItem.user_id == user_id, FridgeItem.expires_on >= utcnow().date())
        .order_by(FridgeItem.expires_on, FridgeItem.id))
    names: list[str] = []
    seen: set[str] = set()
    for raw in rows:
        name = " ".join(raw.split())[:MAX_INGREDIENT_LEN]
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
            if len(names) == MAX_INGREDIENTS:
                break
    return names


def start_job(user_id: int, ingredients: list[str] | None) -> str:
    """Commit a pending job and start its greenlet; return the job id."""
    recipes = state()
    expire_stale_jobs(user_id)
    if ingredients is None:
        ingredients = fridge_ingredients(user_id)
        if not ingredients:
            raise ApiError(400, "no_ingredients",
                           "send ingredients, or add unexpired items to your fridge first")
    # Held until the commit: concurrent requests of this user count one after the other.
    lock_for_update(User, user_id)
    pending = db.session.scalar(select(func.count()).select_from(RecipeJob).where(
        RecipeJob.user_id == user_id, RecipeJob.status == "pending"))
    if (pending or 0) >= recipes.max_pending:
        raise ApiError(429, "too_many_jobs", "at most %(limit)d recipe generations may run at once; "
                       "wait for one to finish", limit=recipes.max_pending)
    job_id = str(uuid.uuid4())
    db.session.add(RecipeJob(id=job_id, user_id=user_id, status="pending", ingredients=ingredients))
    db.session.commit()
    app = cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    greenlet = gevent.spawn(run_job, app, job_id)
    greenlet.name = f"recipe-job:{job_id}"
    recipes.jobs[job_id] = greenlet
    greenlet.rawlink(lambda _g: recipes.jobs.pop(job_id, None))
    return job_id


def run_job(app: Flask, job_id: str) -> None:
    """The greenlet body: generate, then finish the job; never lets an exception escape."""
    try:
        with app.app_context():
            _run(job_id)
    except Exception:
        # Only a failure of the failure path (the database is gone) or a signal receiver
        # gets here; the job then stays pending until it is expired as stale.
        log.exception("recipe job %s crashed", job_id)


def _run(job_id: str) -> None:
    job = db.session.get(RecipeJob, job_id)
    if job is None or job.status != "pending":
        return
    user_id, ingredients = job.user_id, list(job.ingredients)
    # End the read transaction: nothing is held open while the generator (maybe the network) works.
    db.session.rollback()
    generator = state().generator
    try:
        draft = parse_draft(dataclasses.asdict(generator.generate(ingredients)))
    except GenerationError as exc:
        log.warning("recipe job %s failed: %s", job_id, exc)
        _fail(job_id, user_id, str(exc))
        return
    except Exception:
        log.exception("recipe generator %s crashed on job %s", generator.name, job_id)
        _fail(job_id, user_id, N_("the recipe generator failed unexpectedly"))
        return
    try:
        recipe = Recipe(user_id=user_id, title=draft.title, ingredients=draft.ingredients,
                        steps=draft.steps, generator=generator.name)
        db.session.add(recipe)
        db.session.flush()
        recipe_id, title = recipe.id, recipe.title
        if not _finish(job_id, status="done", recipe_id=recipe_id):
            db.session.rollback()
            return
        emit(recipe_generated, user_id=user_id, job_id=job_id, recipe_id=recipe_id, title=title)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("recipe job %s could not store its recipe", job_id)
        _fail(job_id, user_id, N_("the recipe could not be stored"))


def _finish(job_id: str, **values: Any) -> bool:
    """Move a still-pending job to its end state; False if someone else already ended it."""
    result = db.session.execute(
        update(RecipeJob).where(RecipeJob.id == job_id, RecipeJob.status == "pending")
        .values(finished_at=utcnow(), **values))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _fail(job_id: str, user_id: int, error: str) -> None:
    db.session.rollback()
    error = error[:MAX_ERROR_LEN]
    if not _finish(job_id, status="failed", error=error):
        db.session.rollback()
        return
    emit(recipe_failed, user_id=user_id, job_id=job_id, error=error)
    db.session.commit()


def expire_stale_jobs(user_id: int) -> int:
    """Fail the user's jobs pending for longer than any generation can take; return how many."""
    recipes = state()
    cutoff = utcnow() - recipes.stale_after
    stale = db.session.scalars(select(RecipeJob.id).where(
        RecipeJob.user_id == user_id, RecipeJob.status == "pending", RecipeJob.created_at < cutoff)).all()
    expired = 0
    for job_id in stale:
        if job_id not in recipes.jobs:  # still running here: it will end by itself
            _fail(job_id, user_id, "the generation was interrupted; please try again")
            expired += 1
    return expired


def get_job(user_id: int, job_id: str) -> RecipeJob:
    """The user's job; 404 for an unknown job and for another user's (its existence is private)."""
    expire_stale_jobs(user_id)
    job = db.session.get(RecipeJob, job_id) if len(job_id) <= 36 else None
    if job is None or job.user_id != user_id:
        raise ApiError(404, "not_found", "no such recipe job")
    return job


def job_to_dict(job: RecipeJob) -> dict[str, Any]:
    """``{job_id, status}`` plus ``recipe_id`` once done or ``error`` once failed."""
    data: dict[str, Any] = {"job_id": job.id, "status": job.status}
    if job.status == "done":
        data["recipe_id"] = job.recipe_id
    elif job.status == "failed":
        data["error"] = job.error
    return data


def get_recipe(user_id: int, recipe_id: int) -> Recipe:
    """The user's recipe; 404 otherwise."""
    recipe = db.session.get(Recipe, recipe_id)
    if recipe is None or recipe.user_id != user_id:
        raise ApiError(404, "not_found", "no such recipe")
    return recipe


def recipes_stmt(user_id: int) -> Select[Any]:
    """The user's recipes, newest first."""
    return (select(Recipe).where(Recipe.user_id == user_id)
            .order_by(Recipe.created_at.desc(), Recipe.id.desc()))


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The JSON shape of a recipe."""
    return {"id": recipe.id, "title": recipe.title, "ingredients": recipe.ingredients,
            "steps": recipe.steps, "generator": recipe.generator,
            "created_at": isoformat(recipe.created_at)}
