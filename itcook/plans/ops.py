"""Operations on a plan: validated as a whole first, then applied in order under the plan's lock.

The rules (docs/plans.md): ``add`` always applies; ``update`` always applies (the last writer
wins) but says ``conflict`` with the values it replaced when one of its fields was changed by
someone else after its ``base_version``; ``move`` is an update of ``date`` and ``meal``;
``remove`` wins over edits: a later ``update`` or ``move`` of a removed entry is a ``conflict``
with reason ``removed`` and changes nothing. A batch is all or nothing: a malformed operation,
or one naming an entry that is not the plan's, answers 400 and applies none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.i18n import gettext
from itcook.models import MenuPlan, MenuPlanEntry, Recipe, utcnow
from itcook.validation import MAX_ID, get_date, get_int, get_str

MEALS = ("breakfast", "lunch", "dinner", "snack")
#: The fields an ``update`` may set; ``move`` sets ``date`` and ``meal``.
EDITABLE = ("title", "recipe_id", "servings", "cook_id", "note")
MAX_OPS, MAX_ENTRIES, TITLE_MAX, NOTE_MAX, MAX_SERVINGS = 100, 300, 200, 2000, 100
OP_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_MISSING = object()


@dataclass
class Op:
    """One validated operation: its kind, its target and the field values it sets."""

    kind: str
    entry_id: int | None = None
    base_version: int | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def wire(self, entry_id: int) -> dict[str, Any]:
        """The operation as MenuPlanUpdated carries it (an ``add`` names the entry it made)."""
        out: dict[str, Any] = {"op": self.kind, "entry_id": entry_id}
        if self.base_version is not None:
            out["base_version"] = self.base_version
        out.update({name: _wire(value) for name, value in self.values.items()})
        return out


def _bad(index: int, message: str, **params: object) -> ApiError:
    return ApiError(400, "invalid_op", "ops[%(index)d]: %(problem)s", index=index,
                    problem=gettext(message, **params))


def _nullable_id(raw: dict[str, Any], name: str, index: int) -> Any:
    value = raw.get(name, _MISSING)
    if value is _MISSING or value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise _bad(index, "%(name)s must be an id or null", name=name)
    return value


def _fields(raw: dict[str, Any], index: int, names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    try:
        for name in names:
            if name == "title" and raw.get("title") is not None:
                values["title"] = get_str(raw, "title", max_len=TITLE_MAX)
            elif name == "note" and "note" in raw:
                values["note"] = get_str(raw, "note", required=False, min_len=0, max_len=NOTE_MAX) or None
            elif name == "servings" and raw.get("servings") is not None:
                values["servings"] = get_int(raw, "servings", maximum=MAX_SERVINGS)
            elif name in ("recipe_id", "cook_id"):
                value = _nullable_id(raw, name, index)
                if value is not _MISSING:
                    values[name] = value
            elif name == "date" and "date" in raw:
                values["date"] = get_date(raw, "date")
            elif name == "meal" and "meal" in raw:
                if raw["meal"] not in MEALS:
                    raise _bad(index, "meal must be one of %(choices)s", choices=", ".join(MEALS))
                values["meal"] = raw["meal"]
    except ApiError as exc:
        if exc.code == "invalid_op":
            raise
        raise _bad(index, exc.message) from None
    return values


def _target(raw: dict[str, Any], index: int, *, base_required: bool) -> tuple[int, int | None]:
    entry_id = raw.get("entry_id")
    if isinstance(entry_id, bool) or not isinstance(entry_id, int) or not 0 < entry_id <= MAX_ID:
        raise _bad(index, "entry_id must be an entry's id")
    base = raw.get("base_version")
    if base is None and not base_required:
        return entry_id, None
    if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= MAX_ID:
        raise _bad(index, "base_version must be the entry's version (an integer)")
    return entry_id, base


def parse_op(raw: Any, index: int) -> Op:
    """Validate one operation of the request (its shape only; references are checked later)."""
    if not isinstance(raw, dict):
        raise _bad(index, "must be an object")
    kind = raw.get("op")
    if kind == "add":
        values = _fields(raw, index, ("date", "meal", "title", "recipe_id", "servings", "cook_id", "note"))
        if "date" not in values or "meal" not in values:
            raise _bad(index, "add needs date and meal")
        if values.get("title") is None and values.get("recipe_id") is None:
            raise _bad(index, "add needs a title or a recipe_id")
        return Op("add", values=values)
    if kind == "update":
        entry_id, base = _target(raw, index, base_required=True)
        values = _fields(raw, index, EDITABLE)
        if not values:
            raise _bad(index, "update needs at least one of %(choices)s", choices=", ".join(EDITABLE))
        if "title" in raw and raw["title"] is None:
            raise _bad(index, "title cannot be null")
        return Op("update", entry_id, base, values)
    if kind == "move":
        entry_id, base = _target(raw, index, base_required=False)
        values = _fields(raw, index, ("date", "meal"))
        if set(values) != {"date", "meal"}:
            raise _bad(index, "move needs date and meal")
        return Op("move", entry_id, base, values)
    if kind == "remove":
        entry_id, base = _target(raw, index, base_required=False)
        return Op("remove", entry_id, base)
    raise _bad(index, "op must be add, update, move or remove")


def parse_request(body: dict[str, Any]) -> tuple[str, list[Op]]:
    """``op_id`` and the validated operations of a request body."""
    op_id = body.get("op_id")
    if op_id is None:
        raise ApiError(400, "missing_field", "op_id is required")
    if not isinstance(op_id, str) or not OP_ID.fullmatch(op_id):
        raise ApiError(400, "invalid_field", "op_id: must be 1 to 64 of A-Z a-z 0-9 _ . : -")
    raw_ops = body.get("ops")
    if not isinstance(raw_ops, list) or not 1 <= len(raw_ops) <= MAX_OPS:
        raise ApiError(400, "invalid_field", "ops: must be a list of 1 to %(limit)d operations",
                       limit=MAX_OPS)
    return op_id, [parse_op(raw, i) for i, raw in enumerate(raw_ops)]


# --- applying -------------------------------------------------------------------------------

def entry_to_dict(entry: MenuPlanEntry) -> dict[str, Any]:
    """The wire form of a live entry (a removed one is ``{id, removed: true, version}``)."""
    if entry.removed_at is not None:
        return {"id": entry.id, "removed": True, "version": entry.version}
    return {"id": entry.id, "date": entry.date.isoformat(), "meal": entry.meal, "title": entry.title,
            "recipe_id": entry.recipe_id, "servings": entry.servings, "cook_id": entry.cook_id,
            "note": entry.note, "version": entry.version}


def _wire(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


class Batch:
    """Applies one request's operations to a locked plan; ``results`` and ``touched`` after."""

    def __init__(self, plan: MenuPlan, user_id: int, editors: list[int]) -> None:
        self.plan, self.user_id, self.editors = plan, user_id, set(editors)
        self.version = plan.version + 1
        self.results: list[dict[str, Any]] = []
        self.touched: dict[int, MenuPlanEntry] = {}
        self._written: set[tuple[int, str]] = set()  # this batch's own writes never conflict
        self._recipe_titles: dict[int, str] = {}

    def _check_values(self, index: int, values: dict[str, Any]) -> None:
        day = values.get("date")
        if day is not None and not 0 <= (day - self.plan.week_start).days <= 6:
            raise _bad(index, "date must be within the plan's week (%(week)s and the 6 days after)",
                       week=self.plan.week_start.isoformat())
        if values.get("cook_id") is not None and values["cook_id"] not in self.editors:
            raise _bad(index, "cook_id must be one of the plan's editors")
        recipe_id = values.get("recipe_id")
        if recipe_id is not None:
            recipe = db.session.get(Recipe, recipe_id)
            if recipe is None or recipe.user_id != self.user_id:
                raise _bad(index, "recipe_id must name one of your recipes")
            self._recipe_titles[recipe_id] = recipe.title

    def _entry(self, index: int, entry_id: int) -> MenuPlanEntry:
        entry = self.touched.get(entry_id) or db.session.get(MenuPlanEntry, entry_id)
        if entry is None or entry.plan_id != self.plan.id:
            raise _bad(index, "entry %(entry_id)d is not in this plan", entry_id=entry_id)
        return entry

    def _set(self, entry: MenuPlanEntry, values: dict[str, Any], base: int | None) -> dict[str, Any]:
        """Write ``values``; the replaced values of fields changed by others since ``base``."""
        versions = dict(entry.field_versions or {})
        replaced: dict[str, Any] = {}
        for name, value in values.items():
            old = getattr(entry, name)
            if old == value:
                continue
            if (base is not None and versions.get(name, 0) > base
                    and (entry.id, name) not in self._written):
                replaced[name] = _wire(old)
            setattr(entry, name, value)
            versions[name] = self.version
            self._written.add((entry.id, name))
        entry.field_versions = versions
        entry.version = self.version
        return replaced

    def apply(self, index: int, op: Op) -> None:
        """Apply one operation and record its result (raises 400 for a bad reference)."""
        if op.kind == "add":
            self._check_values(index, op.values)
            if op.values.get("title") is None:  # a recipe without a title of its own: the recipe's
                op.values["title"] = self._recipe_titles[op.values["recipe_id"]]
            entry = MenuPlanEntry(plan_id=self.plan.id, version=self.version, **{"servings": 2, **op.values})
            entry.field_versions = {name: self.version for name in ("date", "meal", *EDITABLE)}
            db.session.add(entry)
            db.session.flush()  # the id
            self._written.update((entry.id, name) for name in entry.field_versions)
            self.touched[entry.id] = entry
            self.results.append({"entry_id": entry.id, "status": "applied"})
            return
        assert op.entry_id is not None
        entry = self._entry(index, op.entry_id)
        if op.base_version is not None and op.base_version > entry.version:
            raise _bad(index, "base_version %(base)d is newer than the entry (%(version)d)",
                       base=op.base_version, version=entry.version)
        if entry.removed_at is not None:
            # Nothing to edit or remove: the entry's removal stands (the client drops its edit).
            status = "applied" if op.kind == "remove" else "conflict"
            result: dict[str, Any] = {"entry_id": entry.id, "status": status}
            if status == "conflict":
                result.update(reason="removed", current=None)
            self.results.append(result)
            return
        self._check_values(index, op.values)
        if op.kind == "remove":
            before = entry_to_dict(entry)
            stale = op.base_version is not None and entry.version > op.base_version and not any(
                key[0] == entry.id for key in self._written)
            entry.removed_at = utcnow()
            entry.version = self.version
            self.touched[entry.id] = entry
            result = {"entry_id": entry.id, "status": "conflict" if stale else "applied"}
            if stale:  # it was edited since the remover looked: say what went with it
                result.update(reason="stale", current=before)
            self.results.append(result)
            return
        replaced = self._set(entry, op.values, op.base_version)
        self.touched[entry.id] = entry
        result = {"entry_id": entry.id, "status": "conflict" if replaced else "applied"}
        if replaced:
            result.update(reason="stale", current=replaced)
        self.results.append(result)

    def check_room(self) -> None:
        """At most ``MAX_ENTRIES`` live entries per plan (409 ``plan_full``, nothing applied)."""
        live = db.session.scalar(select(func.count()).select_from(MenuPlanEntry).where(
            MenuPlanEntry.plan_id == self.plan.id, MenuPlanEntry.removed_at.is_(None)))
        if int(live or 0) > MAX_ENTRIES:
            raise ApiError(409, "plan_full", "a plan holds at most %(limit)d entries", limit=MAX_ENTRIES)
