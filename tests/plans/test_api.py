"""Menu plans over REST: who may do what, operations applied in order and once, bad input."""

from __future__ import annotations

from typing import Any

import pytest

P = "/api/v1/plans"
MONDAY = "2026-12-07"


def _group(client, owner: dict[str, Any], *members: dict[str, Any]) -> int:
    group = client.post("/api/v1/groups", json={"name": "Family", "open": True}, headers=owner["headers"])
    assert group.status_code == 201
    for member in members:
        assert client.post(f"/api/v1/groups/{group.get_json()['id']}/join",
                           headers=member["headers"]).status_code == 201
    return group.get_json()["id"]


def _plan(client, user: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = client.post(P, json={"title": "Week", "week_start": MONDAY, **extra}, headers=user["headers"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _ops(client, user: dict[str, Any], plan_id: int, op_id: str, *ops: dict[str, Any], expect: int = 200):
    response = client.post(f"{P}/{plan_id}/ops", json={"op_id": op_id, "ops": list(ops)},
                           headers=user["headers"])
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _add(**extra: Any) -> dict[str, Any]:
    return {"op": "add", "date": MONDAY, "meal": "dinner", "title": "Borscht", **extra}


def test_a_personal_plan_is_created_listed_and_read_by_its_owner_only(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    plan = _plan(client, anna)
    assert plan == {"id": plan["id"], "title": "Week", "week_start": MONDAY, "group_id": None,
                    "owner_id": anna["user"]["id"], "version": 0, "entries": []}
    assert [p["id"] for p in client.get(P, headers=anna["headers"]).get_json()["items"]] == [plan["id"]]
    assert client.get(P, headers=boris["headers"]).get_json()["items"] == []
    assert client.get(f"{P}/{plan['id']}", headers=anna["headers"]).get_json() == plan
    for method, path, body in (("get", f"{P}/{plan['id']}", None),
                               ("post", f"{P}/{plan['id']}/ops", {"op_id": "x", "ops": [_add()]}),
                               ("get", f"{P}/{plan['id']}/shopping-list", None),
                               ("post", f"{P}/{plan['id']}/shopping-list/check",
                                {"name": "salt", "checked": True})):
        response = getattr(client, method)(path, json=body, headers=boris["headers"])
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_a_member"
    assert client.get(f"{P}/999", headers=anna["headers"]).status_code == 404


def test_a_group_plan_is_edited_by_its_members_and_refused_to_others(client, auth) -> None:
    anna, boris, carol = auth.register("anna"), auth.register("boris"), auth.register("carol")
    group_id = _group(client, anna, boris)
    refused = client.post(P, json={"title": "W", "week_start": MONDAY, "group_id": group_id},
                          headers=carol["headers"])
    assert refused.status_code == 403
    plan = _plan(client, anna, group_id=group_id)
    added = _ops(client, boris, plan["id"], "b1", _add(cook_id=anna["user"]["id"]))
    assert added["version"] == 1 and added["results"][0]["status"] == "applied"
    assert [p["id"] for p in client.get(P, headers=boris["headers"]).get_json()["items"]] == [plan["id"]]
    assert client.get(f"{P}/{plan['id']}", headers=carol["headers"]).status_code == 403
    _ops(client, carol, plan["id"], "c1", _add(), expect=403)


def test_operations_apply_in_order_and_a_retry_answers_the_first_result(client, auth) -> None:
    anna = auth.register("anna")
    plan = _plan(client, anna)
    first = _ops(client, anna, plan["id"], "op-1", _add(), _add(meal="lunch", title="Soup", servings=4))
    ids = [r["entry_id"] for r in first["results"]]
    assert first == {"version": 1, "results": [{"entry_id": ids[0], "status": "applied"},
                                               {"entry_id": ids[1], "status": "applied"}]}
    assert _ops(client, anna, plan["id"], "op-1", _add(title="Other")) == first  # changes nothing
    moved = _ops(client, anna, plan["id"], "op-2",
                 {"op": "update", "entry_id": ids[0], "base_version": 1, "note": "with smetana"},
                 {"op": "move", "entry_id": ids[0], "date": "2026-12-09", "meal": "lunch"},
                 {"op": "remove", "entry_id": ids[1]})
    assert moved["version"] == 2 and [r["status"] for r in moved["results"]] == ["applied"] * 3
    state = client.get(f"{P}/{plan['id']}", headers=anna["headers"]).get_json()
    assert state["version"] == 2
    assert state["entries"] == [{"id": ids[0], "date": "2026-12-09", "meal": "lunch", "title": "Borscht",
                                 "recipe_id": None, "servings": 2, "cook_id": None,
                                 "note": "with smetana", "version": 2}]


def test_a_stale_update_applies_and_reports_the_value_it_replaced(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    plan = _plan(client, anna, group_id=_group(client, anna, boris))
    entry = _ops(client, anna, plan["id"], "a1", _add())["results"][0]["entry_id"]
    _ops(client, anna, plan["id"], "a2",
         {"op": "update", "entry_id": entry, "base_version": 1, "title": "Solyanka"})
    # Boris saw version 1: a different field applies quietly, the same field is a conflict.
    other = _ops(client, boris, plan["id"], "b1", {"op": "update", "entry_id": entry, "base_version": 1,
                                                   "servings": 6})
    assert other["results"] == [{"entry_id": entry, "status": "applied"}]
    same = _ops(client, boris, plan["id"], "b2", {"op": "update", "entry_id": entry, "base_version": 1,
                                                  "title": "Pelmeni"})
    assert same["results"] == [{"entry_id": entry, "status": "conflict", "reason": "stale",
                                "current": {"title": "Solyanka"}}]
    state = client.get(f"{P}/{plan['id']}", headers=anna["headers"]).get_json()["entries"][0]
    assert (state["title"], state["servings"], state["version"]) == ("Pelmeni", 6, 4)


def test_an_edit_of_a_removed_entry_is_a_conflict_and_changes_nothing(client, auth) -> None:
    anna = auth.register("anna")
    plan = _plan(client, anna)
    entry = _ops(client, anna, plan["id"], "a1", _add())["results"][0]["entry_id"]
    _ops(client, anna, plan["id"], "a2", {"op": "remove", "entry_id": entry})
    late = _ops(client, anna, plan["id"], "a3", {"op": "update", "entry_id": entry, "base_version": 1,
                                                 "title": "x"},
                {"op": "move", "entry_id": entry, "date": MONDAY, "meal": "snack"},
                {"op": "remove", "entry_id": entry})
    removed = {"entry_id": entry, "status": "conflict", "reason": "removed", "current": None}
    assert late["results"] == [removed, removed, {"entry_id": entry, "status": "applied"}]
    assert client.get(f"{P}/{plan['id']}", headers=anna["headers"]).get_json()["entries"] == []


def test_removing_an_entry_edited_since_the_removers_base_says_what_went(client, auth) -> None:
    anna = auth.register("anna")
    plan = _plan(client, anna)
    entry = _ops(client, anna, plan["id"], "a1", _add())["results"][0]["entry_id"]
    _ops(client, anna, plan["id"], "a2", {"op": "update", "entry_id": entry, "base_version": 1, "note": "n"})
    gone = _ops(client, anna, plan["id"], "a3", {"op": "remove", "entry_id": entry, "base_version": 1})
    assert gone["results"][0]["status"] == "conflict" and gone["results"][0]["current"]["note"] == "n"


@pytest.mark.parametrize("body, code", [
    ({"ops": [_add()]}, "missing_field"),
    ({"op_id": "", "ops": [_add()]}, "invalid_field"),
    ({"op_id": "a b", "ops": [_add()]}, "invalid_field"),
    ({"op_id": 5, "ops": [_add()]}, "invalid_field"),
    ({"op_id": "x", "ops": []}, "invalid_field"),
    ({"op_id": "x", "ops": {}}, "invalid_field"),
    ({"op_id": "x", "ops": [_add()] * 101}, "invalid_field"),
    ({"op_id": "x", "ops": [_add(), "add"]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), {"op": "paint"}]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(meal="brunch")]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(date="2026-12-14")]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(date="07.12.2026")]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(title=None)]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(servings=0)]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(servings=True)]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(cook_id=999)]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(recipe_id=999)]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), _add(title="\x00")]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), {"op": "update", "entry_id": 999, "base_version": 0, "title": "t"}]},
     "invalid_op"),
    ({"op_id": "x", "ops": [_add(), {"op": "update", "entry_id": 1, "title": "t"}]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), {"op": "update", "entry_id": 1, "base_version": 0}]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), {"op": "update", "entry_id": 1, "base_version": 99, "title": "t"}]},
     "invalid_op"),
    ({"op_id": "x", "ops": [_add(), {"op": "move", "entry_id": 1, "date": MONDAY}]}, "invalid_op"),
    ({"op_id": "x", "ops": [_add(), {"op": "remove", "entry_id": "1"}]}, "invalid_op"),
])
def test_a_malformed_batch_is_refused_whole_and_nothing_applies(client, auth, body, code) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    plan = _plan(client, anna)
    _ops(client, anna, plan["id"], "seed", _add())  # entry 1, version 1
    _plan(client, boris)  # another plan: its entries are not this one's
    response = client.post(f"{P}/{plan['id']}/ops", json=body, headers=anna["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code, response.get_json()
    after = client.get(f"{P}/{plan['id']}", headers=anna["headers"]).get_json()
    assert after["version"] == 1 and len(after["entries"]) == 1
    # Nothing of it was recorded either: the same op_id, well formed, applies.
    assert _ops(client, anna, plan["id"], "x", _add())["version"] == 2


def test_an_entry_of_another_plan_cannot_be_named(client, auth) -> None:
    anna = auth.register("anna")
    mine, other = _plan(client, anna), _plan(client, anna)
    entry = _ops(client, anna, other["id"], "o1", _add())["results"][0]["entry_id"]
    response = client.post(f"{P}/{mine['id']}/ops", headers=anna["headers"],
                           json={"op_id": "m1", "ops": [{"op": "remove", "entry_id": entry}]})
    assert response.status_code == 400 and "not in this plan" in response.get_json()["error"]["message"]


def test_another_editors_op_id_is_not_theirs_to_replay(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    plan = _plan(client, anna, group_id=_group(client, anna, boris))
    _ops(client, anna, plan["id"], "same", _add())
    assert client.post(f"{P}/{plan['id']}/ops", json={"op_id": "same", "ops": [_add()]},
                       headers=boris["headers"]).status_code == 409


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"),
    ({"title": "W"}, "missing_field"),
    ({"title": "W", "week_start": "2026-12-08"}, "invalid_field"),  # a Tuesday
    ({"title": "W", "week_start": "2026-13-01"}, "invalid_field"),
    ({"title": "", "week_start": MONDAY}, "invalid_field"),
    ({"title": "W", "week_start": MONDAY, "group_id": "1"}, "invalid_field"),
])
def test_bad_plan_bodies(client, auth, body, code) -> None:
    anna = auth.register("anna")
    response = client.post(P, json=body, headers=anna["headers"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_a_recipe_entry_takes_the_recipes_title_and_only_ones_own_recipes(app, client, auth) -> None:
    from itcook.extensions import db
    from itcook.models import Recipe

    anna, boris = auth.register("anna"), auth.register("boris")
    with app.app_context():
        recipe = Recipe(user_id=anna["user"]["id"], title="Okroshka", ingredients=[], steps=[],
                        generator="local")
        db.session.add(recipe)
        db.session.commit()
        recipe_id = recipe.id
    plan = _plan(client, anna)
    entry = _ops(client, anna, plan["id"], "r1", {"op": "add", "date": MONDAY, "meal": "lunch",
                                                  "recipe_id": recipe_id})["results"][0]["entry_id"]
    state = client.get(f"{P}/{plan['id']}", headers=anna["headers"]).get_json()["entries"]
    assert state[0]["id"] == entry and (state[0]["title"], state[0]["recipe_id"]) == ("Okroshka", recipe_id)
    theirs = _plan(client, boris)
    _ops(client, boris, theirs["id"], "r2", {"op": "add", "date": MONDAY, "meal": "lunch",
                                             "recipe_id": recipe_id}, expect=400)


def test_concurrent_batches_on_one_plan_apply_one_after_the_other(live_server) -> None:
    from tests.support.rest import Api
    from tests.support.waiting import concurrently

    api = Api(live_server)
    anna = api.register("anna")
    plan = api.call("POST", "/plans", anna, expect=201, json={"title": "W", "week_start": MONDAY}).json()

    def send(i: int) -> dict[str, Any]:
        # Every other request repeats op "same": it must apply once, whoever gets there first.
        op_id = "same" if i % 2 else f"op-{i}"
        return api.call("POST", f"/plans/{plan['id']}/ops", anna, expect=200,
                        json={"op_id": op_id, "ops": [_add(title=f"t{i}")]}).json()

    answers = concurrently(12, send)
    versions = sorted({a["version"] for a in answers})
    assert versions == list(range(1, 8))  # 6 distinct op_ids + "same" once
    assert len({a["results"][0]["entry_id"] for a in answers if a["version"]}) == 7
    same = [a for i, a in enumerate(answers) if i % 2]
    assert all(a == same[0] for a in same)
    state = api.call("GET", f"/plans/{plan['id']}", anna, expect=200).json()
    assert state["version"] == 7 and len(state["entries"]) == 7


def test_batches_past_the_retention_are_forgotten_and_recent_ones_kept(app, client, auth) -> None:
    """menu_plan_ops does not grow for ever: the hourly job forgets op_ids older than
    ITCOOK_PLAN_OP_RETENTION_DAYS, and a retry within them still changes nothing."""
    import datetime as dt

    from sqlalchemy import update

    from itcook.extensions import db
    from itcook.models import MenuPlanOp, utcnow
    from itcook.plans.services import prune_ops

    anna = auth.register("anna")
    plan = _plan(client, anna)
    _ops(client, anna, plan["id"], "op-old", _add())
    recent = _ops(client, anna, plan["id"], "op-new", _add(meal="lunch"))
    with app.app_context():
        db.session.execute(update(MenuPlanOp).where(MenuPlanOp.op_id == "op-old")
                           .values(created_at=utcnow() - dt.timedelta(days=31)))
        db.session.commit()
        assert prune_ops(30) == 1
        assert db.session.query(MenuPlanOp).count() == 1
    assert _ops(client, anna, plan["id"], "op-new", _add(title="Other")) == recent
    assert _ops(client, anna, plan["id"], "op-old", _add(title="Again"))["version"] == 3
