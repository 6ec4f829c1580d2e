"""Menu plans across two real processes (PostgreSQL + Redis): editors converge whichever process
they talk to, and presence reaches the plan's listeners on every process."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cluster import Cluster
from tests.support.plans import check_convergence
from tests.support.rest import Api
from tests.support.ws import ws_connect

#: Two processes; anna and boris, in one group, each on the group's plan, one per process:
#: (process a, process b, anna, boris, the plan, anna's WebSocket on a, boris's on b).
Editors = tuple[Any, Any, dict[str, Any], dict[str, Any], dict[str, Any], Any, Any]


@pytest.fixture
def editors(cluster: Cluster) -> Editors:
    a, b = cluster.start(2)
    api = Api(a)
    anna, boris = api.register("anna"), api.register("boris")
    group = api.call("POST", "/groups", anna, expect=201, json={"name": "Family", "open": True}).json()
    api.call("POST", f"/groups/{group['id']}/join", boris, expect=201)
    plan = api.call("POST", "/plans", anna, expect=201,
                    json={"title": "W", "week_start": "2026-12-07", "group_id": group["id"]}).json()
    query = f"?channels=plan:{plan['id']}"
    on_a = ws_connect(a, anna["access_token"], query=query, timeout=10)
    on_b = ws_connect(b, boris["access_token"], query=query, timeout=10)
    return a, b, anna, boris, plan, on_a, on_b


def test_editors_on_two_processes_converge(cluster: Cluster) -> None:
    check_convergence(cluster.start(2), examples=10)


def test_presence_is_shared_by_the_processes_and_ends_with_the_connection(editors: Editors) -> None:
    a, b, anna, boris, plan, on_a, on_b = editors
    on_a.subscribe(f"plan:{plan['id']}")
    on_b.subscribe(f"plan:{plan['id']}")
    on_a.send({"type": "PlanFocus", "plan_id": plan["id"], "entry_id": 3})
    first = on_b.recv_type("PlanPresence", timeout=10)["data"]
    assert first["users"] == [{"user_id": anna["user"]["id"], "user_name": "anna", "entry_id": 3}]
    on_b.send({"type": "PlanFocus", "plan_id": plan["id"]})
    both = on_a.recv_type("PlanPresence", timeout=10)
    while len(both["data"]["users"]) < 2:  # anna's own focus comes back first
        both = on_a.recv_type("PlanPresence", timeout=10)
    assert both["data"]["seq"] > first["seq"]
    on_a.close()
    users = on_b.recv_type("PlanPresence", timeout=10)["data"]["users"]
    while len(users) != 1:
        users = on_b.recv_type("PlanPresence", timeout=10)["data"]["users"]
    assert users == [{"user_id": boris["user"]["id"], "user_name": "boris"}]
    on_b.close()


def test_a_dead_processes_focus_drops_out_after_its_ttl(editors: Editors) -> None:
    """SIGKILL leaves no blur behind: the survivor's refresh finds the member expired."""
    import signal
    import time

    from itcook.plans.presence import REFRESH, TTL

    a, b, anna, boris, plan, on_a, on_b = editors
    on_b.subscribe(f"plan:{plan['id']}")
    on_b.send({"type": "PlanFocus", "plan_id": plan["id"]})
    assert len(on_b.recv_type("PlanPresence", timeout=10)["data"]["users"]) == 1
    on_a.send({"type": "PlanFocus", "plan_id": plan["id"]})
    users = on_b.recv_type("PlanPresence", timeout=10)["data"]["users"]
    assert {u["user_name"] for u in users} == {"anna", "boris"}
    a.stop(signal.SIGKILL)
    deadline = time.monotonic() + TTL + 2 * REFRESH
    while len(users) != 1:  # a refresh may first repeat the list anna is still in
        users = on_b.recv_type("PlanPresence", timeout=max(0.1, deadline - time.monotonic()))["data"]["users"]
    assert users == [{"user_id": boris["user"]["id"], "user_name": "boris"}]
    on_a.sock.close()
    on_b.close()
