"""Menu plans live: MenuPlanUpdated on ``plan:<id>`` for its editors only, durable and resumable."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect

MONDAY = "2026-12-07"


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _family(api: Api, owner: dict[str, Any], *members: dict[str, Any]) -> dict[str, Any]:
    group = api.call("POST", "/groups", owner, expect=201, json={"name": "Family", "open": True}).json()
    for member in members:
        api.call("POST", f"/groups/{group['id']}/join", member, expect=201)
    return api.call("POST", "/plans", owner, expect=201,
                    json={"title": "Week", "week_start": MONDAY, "group_id": group["id"]}).json()


def _ops(api: Api, user: dict[str, Any], plan_id: int, op_id: str, *ops: dict[str, Any]) -> dict[str, Any]:
    return api.call("POST", f"/plans/{plan_id}/ops", user, expect=200,
                    json={"op_id": op_id, "ops": list(ops)}).json()


def test_editors_hear_each_batch_once_and_outsiders_may_not_listen(live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    plan = _family(api, anna, boris)
    channel = f"plan:{plan['id']}"
    listener = ws_connect(live_server, boris["access_token"])
    assert listener.subscribe(channel)["data"] == {"channels": [channel]}
    outsider = ws_connect(live_server, carol["access_token"])
    outsider.send({"type": "Subscribe", "channels": [channel]})
    refused = outsider.recv()
    assert refused["type"] == "Error" and refused["data"]["code"] == "forbidden_channel"

    plov = {"op": "add", "date": MONDAY, "meal": "dinner", "title": "Plov"}
    answer = _ops(api, anna, plan["id"], "a1", plov)
    _ops(api, anna, plan["id"], "a1", plov)
    frame = listener.recv_type("MenuPlanUpdated")
    entry_id = answer["results"][0]["entry_id"]
    assert frame["channel"] == channel and isinstance(frame["id"], int)
    assert frame["data"] == {
        "plan_id": plan["id"], "version": 1, "by": anna["user"]["id"], "by_name": "anna", "op_id": "a1",
        "ops": [{"op": "add", "entry_id": entry_id, "date": MONDAY, "meal": "dinner", "title": "Plov"}],
        "results": answer["results"],
        "entries": [{"id": entry_id, "date": MONDAY, "meal": "dinner", "title": "Plov", "recipe_id": None,
                     "servings": 2, "cook_id": None, "note": None, "version": 1}]}
    # The retry published nothing; a malformed batch neither.
    bad = api.call("POST", f"/plans/{plan['id']}/ops", anna, json={"op_id": "a2", "ops": [
        {"op": "remove", "entry_id": entry_id}, {"op": "paint"}]})
    assert bad.status_code == 400
    _ops(api, anna, plan["id"], "a3", {"op": "remove", "entry_id": entry_id})
    removed = listener.recv_type("MenuPlanUpdated")["data"]
    assert removed["version"] == 2 and removed["entries"] == [{"id": entry_id, "removed": True, "version": 2}]
    outsider.assert_silent()
    listener.close()
    outsider.close()


def test_a_client_that_resumes_gets_every_batch_it_missed_in_order(live_server, api) -> None:
    anna = api.register("anna")
    plan = api.call("POST", "/plans", anna, expect=201, json={"title": "W", "week_start": MONDAY}).json()
    query = f"?channels=plan:{plan['id']}"
    client = ws_connect(live_server, anna["access_token"], query=query)
    wait_for(lambda: live_server.state.hub.channels.get(f"plan:{plan['id']}"), what="subscription")
    _ops(api, anna, plan["id"], "o1", {"op": "add", "date": MONDAY, "meal": "lunch", "title": "Shchi"})
    last = client.recv_type("MenuPlanUpdated")["id"]
    client.close()
    for i in range(2, 5):
        _ops(api, anna, plan["id"], f"o{i}", {"op": "add", "date": MONDAY, "meal": "snack", "title": f"t{i}"})
    client = ws_connect(live_server, anna["access_token"], query=f"{query}&last_event_id={last}")
    versions = [client.recv_type("MenuPlanUpdated")["data"]["version"] for _ in range(3)]
    assert versions == [2, 3, 4]
    client.close()


def test_a_member_who_leaves_the_group_leaves_its_plans_channel(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    plan = _family(api, anna, boris)
    channel = f"plan:{plan['id']}"
    client = ws_connect(live_server, boris["access_token"], query=f"?channels={channel}")
    wait_for(lambda: live_server.state.hub.channels.get(channel), what="subscription")
    api.call("POST", f"/groups/{plan['group_id']}/leave", boris, expect=200)
    dropped = client.recv_type("Unsubscribed")
    assert dropped["data"] == {"channels": [channel], "reason": "access_revoked"}
    api.call("GET", f"/plans/{plan['id']}", boris, expect=403)
    client.close()
