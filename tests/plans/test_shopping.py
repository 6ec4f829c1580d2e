"""The shopping list: recipes scaled by servings, units normalised, minus the editors' fridges."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from itcook.extensions import db
from itcook.models import Recipe
from tests.support.rest import Api
from tests.support.ws import ws_connect

MONDAY = "2026-12-07"
LATER = (dt.date.today() + dt.timedelta(days=30)).isoformat()
BORSCHT = [{"name": "Beet", "amount": 300, "unit": "g"}, {"name": "Sour cream", "amount": 0.1, "unit": "kg"},
           {"name": "salt", "amount": None, "unit": "tsp"}, {"name": "Egg", "amount": 1, "unit": "pc"}]


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _recipe(app, user: dict[str, Any], title: str, ingredients: list[dict[str, Any]]) -> int:
    with app.app_context():
        recipe = Recipe(user_id=user["user"]["id"], title=title, ingredients=ingredients, steps=[],
                        generator="local")
        db.session.add(recipe)
        db.session.commit()
        return recipe.id


def _fridge(api: Api, user: dict[str, Any], name: str, quantity: float | None, unit: str | None) -> None:
    api.call("POST", "/fridge/items", user, expect=201,
             json={"name": name, "quantity": quantity, "unit": unit, "expires_on": LATER})


def test_a_group_plans_list_adds_up_scales_and_subtracts_every_members_fridge(app, live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    group = api.call("POST", "/groups", anna, expect=201, json={"name": "Family", "open": True}).json()
    api.call("POST", f"/groups/{group['id']}/join", boris, expect=201)
    plan = api.call("POST", "/plans", anna, expect=201,
                    json={"title": "W", "week_start": MONDAY, "group_id": group["id"]}).json()
    borscht = _recipe(app, anna, "Borscht", BORSCHT)
    bare = _recipe(app, anna, "Grandma's pie", [])
    ops = [{"op": "add", "date": MONDAY, "meal": "dinner", "recipe_id": borscht, "servings": 4},
           {"op": "add", "date": "2026-12-08", "meal": "lunch", "recipe_id": borscht},
           {"op": "add", "date": MONDAY, "meal": "snack", "recipe_id": bare},
           {"op": "add", "date": MONDAY, "meal": "breakfast", "title": "Toast"}]
    ids = [r["entry_id"] for r in api.call("POST", f"/plans/{plan['id']}/ops", anna, expect=200,
                                           json={"op_id": "o1", "ops": ops}).json()["results"]]
    _fridge(api, anna, "beet", 0.5, "kg")
    _fridge(api, boris, " BEET ", 100, "g")
    _fridge(api, boris, "egg", None, None)  # some eggs: enough
    _fridge(api, carol, "sour cream", 1, "kg")  # not a member: not counted
    answer = api.call("GET", f"/plans/{plan['id']}/shopping-list", boris, expect=200).json()
    assert answer["items"] == [
        {"name": "beet", "quantity": 900.0, "unit": "g", "in_fridge": 600.0, "to_buy": 300.0,
         "checked": False},
        {"name": "egg", "quantity": 3.0, "unit": "pcs", "in_fridge": 3.0, "to_buy": 0.0, "checked": False},
        {"name": "salt", "quantity": None, "unit": "ml", "in_fridge": 0.0, "to_buy": None, "checked": False},
        {"name": "sour cream", "quantity": 300.0, "unit": "g", "in_fridge": 0.0, "to_buy": 300.0,
         "checked": False}]
    assert answer["not_counted"] == [
        {"entry_id": ids[2], "title": "Grandma's pie", "recipe_id": bare, "reason": "no_ingredients"},
        {"entry_id": ids[3], "title": "Toast", "recipe_id": None, "reason": "no_recipe"}]
    api.call("GET", f"/plans/{plan['id']}/shopping-list", carol, expect=403)


def test_checking_an_item_off_is_heard_live_and_kept(app, live_server, api) -> None:
    anna = api.register("anna")
    plan = api.call("POST", "/plans", anna, expect=201, json={"title": "W", "week_start": MONDAY}).json()
    recipe = _recipe(app, anna, "Borscht", BORSCHT)
    api.call("POST", f"/plans/{plan['id']}/ops", anna, expect=200, json={"op_id": "o1", "ops": [
        {"op": "add", "date": MONDAY, "meal": "dinner", "recipe_id": recipe}]})
    client = ws_connect(live_server, anna["access_token"], query=f"?channels=plan:{plan['id']}")
    client.subscribe(f"plan:{plan['id']}")
    answer = api.call("POST", f"/plans/{plan['id']}/shopping-list/check", anna, expect=200,
                      json={"name": " Beet", "checked": True}).json()
    assert answer == {"plan_id": plan["id"], "name": "beet", "checked": True}
    frame = client.recv_type("ShoppingItemChecked")
    assert isinstance(frame["id"], int)
    assert frame["data"] == {"plan_id": plan["id"], "name": "beet", "checked": True, "by": anna["user"]["id"]}
    items = api.call("GET", f"/plans/{plan['id']}/shopping-list", anna, expect=200).json()["items"]
    assert [i["name"] for i in items if i["checked"]] == ["beet"]
    api.call("POST", f"/plans/{plan['id']}/shopping-list/check", anna, expect=200,
             json={"name": "beet", "checked": False})
    assert client.recv_type("ShoppingItemChecked")["data"]["checked"] is False
    client.close()


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"), ({"name": "beet"}, "missing_field"),
    ({"name": "", "checked": True}, "invalid_field"),
    ({"name": "beet", "checked": "yes"}, "invalid_field"), ({"name": 5, "checked": True}, "invalid_field"),
])
def test_bad_check_bodies(live_server, api, body, code) -> None:
    anna = api.register("anna")
    plan = api.call("POST", "/plans", anna, expect=201, json={"title": "W", "week_start": MONDAY}).json()
    response = api.call("POST", f"/plans/{plan['id']}/shopping-list/check", anna, expect=400, json=body)
    assert response.json()["error"]["code"] == code
    api.call("POST", "/plans/999/shopping-list/check", anna, expect=404, json={"name": "x", "checked": True})
