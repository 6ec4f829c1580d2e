"""Plan presence: PlanFocus / PlanBlur -> PlanPresence for the plan's listeners, gone with the connection."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.rest import Api
from tests.support.ws import Client, ws_connect

MONDAY = "2026-12-07"


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _presence(client: Client) -> list[dict[str, Any]]:
    frame = client.recv_type("PlanPresence")
    assert "id" not in frame  # not durable
    return frame["data"]["users"]


def test_editors_see_who_looks_at_which_entry_until_they_leave(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    group = api.call("POST", "/groups", anna, expect=201, json={"name": "Family", "open": True}).json()
    api.call("POST", f"/groups/{group['id']}/join", boris, expect=201)
    plan = api.call("POST", "/plans", anna, expect=201,
                    json={"title": "W", "week_start": MONDAY, "group_id": group["id"]}).json()
    channel, pid = f"plan:{plan['id']}", plan["id"]
    a, b = (ws_connect(live_server, u["access_token"], query=f"?channels={channel}") for u in (anna, boris))
    a.subscribe(channel)
    b.subscribe(channel)
    anna_at = {"user_id": anna["user"]["id"], "user_name": "anna", "entry_id": 7}
    a.send({"type": "PlanFocus", "plan_id": pid, "entry_id": 7})
    assert _presence(b) == [anna_at]
    assert _presence(a) == [anna_at]
    b.send({"type": "PlanFocus", "plan_id": pid})
    boris_here = {"user_id": boris["user"]["id"], "user_name": "boris"}
    assert _presence(a) == [anna_at, boris_here]
    a.close()  # the connection ends: its focus goes with it
    assert _presence(b)[-1:] == [boris_here]
    b.send({"type": "PlanBlur", "plan_id": pid})
    while (users := _presence(b)) != []:
        assert users == [boris_here]  # the one published when anna left, if not read yet
    b.close()


def test_outsiders_and_bad_frames_get_an_error(live_server, api) -> None:
    anna, carol = api.register("anna"), api.register("carol")
    plan = api.call("POST", "/plans", anna, expect=201, json={"title": "W", "week_start": MONDAY}).json()
    client = ws_connect(live_server, carol["access_token"])
    for frame, code in (({"type": "PlanFocus", "plan_id": plan["id"]}, "forbidden_channel"),
                        ({"type": "PlanFocus", "plan_id": 999}, "forbidden_channel"),
                        ({"type": "PlanFocus", "plan_id": "1"}, "invalid_field"),
                        ({"type": "PlanFocus"}, "invalid_field"),
                        ({"type": "PlanFocus", "plan_id": plan["id"], "entry_id": -1}, "invalid_field"),
                        ({"type": "PlanBlur", "plan_id": True}, "invalid_field")):
        client.send(frame)
        error = client.recv_type("Error")
        assert error["data"]["code"] == code, (frame, error)
    owner = ws_connect(live_server, anna["access_token"], query=f"?channels=plan:{plan['id']}")
    owner.send({"type": "PlanFocus", "plan_id": plan["id"]})
    assert _presence(owner) == [{"user_id": anna["user"]["id"], "user_name": "anna"}]
    owner.close()
    client.close()
