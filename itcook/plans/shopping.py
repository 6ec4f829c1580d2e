"""A plan's shopping list: recipe ingredients scaled by servings, units normalised, minus the fridge.

Recipes are written for ``RECIPE_SERVINGS`` (the generators cook for 2). Quantities are added up
per (name, normalised unit); the fridge counted is the plan's editors' (the owner's for a
personal plan, every member's for a group's), unexpired items only, matched by name and unit
dimension; a fridge item without a quantity covers the need. Entries without a recipe, and
recipes without structured ingredients, contribute nothing and are named in ``not_counted``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.locking import lock_for_update
from itcook.models import FridgeItem, MenuPlan, MenuPlanEntry, Recipe, ShoppingCheck, User, utcnow
from itcook.plans.access import editors, get_plan
from itcook.signals import emit, shopping_item_checked

RECIPE_SERVINGS = 2
NAME_MAX = 100
#: unit -> (normalised unit, factor): masses in g, volumes in ml, counts in pcs.
UNITS: dict[str, tuple[str, float]] = {
    "g": ("g", 1), "gram": ("g", 1), "grams": ("g", 1), "kg": ("g", 1000), "mg": ("g", 0.001),
    "г": ("g", 1), "кг": ("g", 1000),
    "ml": ("ml", 1), "l": ("ml", 1000), "cl": ("ml", 10), "dl": ("ml", 100), "мл": ("ml", 1),
    "л": ("ml", 1000), "tsp": ("ml", 5), "tbsp": ("ml", 15), "cup": ("ml", 240), "cups": ("ml", 240),
    "ч.л.": ("ml", 5), "ст.л.": ("ml", 15),
    "": ("pcs", 1), "pc": ("pcs", 1), "pcs": ("pcs", 1), "piece": ("pcs", 1), "pieces": ("pcs", 1),
    "шт": ("pcs", 1), "шт.": ("pcs", 1),
}


def normalise(name: str, amount: float | None, unit: str | None) -> tuple[str, float | None, str]:
    """(name, amount, unit) in the list's units: lower-case name, g / ml / pcs where known."""
    key = " ".join(name.split()).casefold()
    raw = (unit or "").strip().casefold()
    target, factor = UNITS.get(raw, (raw, 1))
    return key[:NAME_MAX], None if amount is None else float(amount) * factor, target


def _needs(entries: list[MenuPlanEntry]) -> tuple[dict[tuple[str, str], float | None], list[dict[str, Any]]]:
    recipes = {r.id: r for r in db.session.scalars(select(Recipe).where(
        Recipe.id.in_({e.recipe_id for e in entries if e.recipe_id is not None})))}
    needs: dict[tuple[str, str], float | None] = {}
    not_counted = []
    for entry in entries:
        recipe = recipes.get(entry.recipe_id) if entry.recipe_id is not None else None
        items = [i for i in (recipe.ingredients if recipe else None) or []
                 if isinstance(i, dict) and isinstance(i.get("name"), str) and i["name"].strip()]
        if not items:
            not_counted.append({"entry_id": entry.id, "title": entry.title, "recipe_id": entry.recipe_id,
                                "reason": "no_ingredients" if recipe else "no_recipe"})
            continue
        scale = entry.servings / RECIPE_SERVINGS
        for item in items:
            amount = item.get("amount") if isinstance(item.get("amount"), int | float) else None
            name, quantity, unit = normalise(item["name"], amount, item.get("unit"))
            before = needs.get((name, unit))
            if quantity is None:
                needs.setdefault((name, unit), None)  # "to taste": listed, no quantity
            else:
                needs[(name, unit)] = (before or 0) + quantity * scale
    return needs, not_counted


def _fridge(user_ids: list[int]) -> dict[tuple[str, str], float | None]:
    held: dict[tuple[str, str], float | None] = defaultdict(float)
    for item in db.session.scalars(select(FridgeItem).where(
            FridgeItem.user_id.in_(user_ids), FridgeItem.expires_on >= utcnow().date())):
        name, quantity, unit = normalise(item.name, item.quantity, item.unit)
        key = (name, unit)
        held[key] = None if quantity is None or held[key] is None else held[key] + quantity  # type: ignore[operator]
    return held


def shopping_list(user: User, plan_id: int) -> dict[str, Any]:
    """``{plan_id, items: [{name, quantity, unit, in_fridge, to_buy, checked}], not_counted}``."""
    plan = get_plan(plan_id, user.id)
    entries = list(db.session.scalars(select(MenuPlanEntry).where(
        MenuPlanEntry.plan_id == plan.id, MenuPlanEntry.removed_at.is_(None)).order_by(MenuPlanEntry.id)))
    needs, not_counted = _needs(entries)
    held = _fridge(editors(plan))
    checked = set(db.session.scalars(select(ShoppingCheck.name).where(ShoppingCheck.plan_id == plan.id)))
    items = []
    for (name, unit), quantity in sorted(needs.items()):
        have = held.get((name, unit), 0.0)
        if have is None:  # in the fridge without a quantity: enough
            have = quantity
        to_buy = None if quantity is None else round(max(0.0, quantity - (have or 0.0)), 2)
        items.append({"name": name, "quantity": None if quantity is None else round(quantity, 2),
                      "unit": unit, "in_fridge": None if have is None else round(have, 2),
                      "to_buy": to_buy, "checked": name in checked})
    return {"plan_id": plan.id, "items": items, "not_counted": not_counted}


def check(user: User, plan_id: int, name: str, checked: bool) -> dict[str, Any]:
    """Check ``name`` off (``checked``) or back on; ShoppingItemChecked in the same transaction."""
    if not lock_for_update(MenuPlan, plan_id):  # one check at a time: insert-or-delete races
        raise ApiError(404, "not_found", "plan not found")
    plan = get_plan(plan_id, user.id)
    key = normalise(name, None, None)[0]
    row = db.session.get(ShoppingCheck, (plan.id, key))
    if checked and row is None:
        db.session.add(ShoppingCheck(plan_id=plan.id, name=key, checked_by=user.id, checked_at=utcnow()))
    elif not checked and row is not None:
        db.session.delete(row)
    emit(shopping_item_checked, plan_id=plan.id, name=key, checked=checked, by=user.id)
    db.session.commit()
    return {"plan_id": plan.id, "name": key, "checked": checked}
