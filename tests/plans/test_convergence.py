"""Convergence of concurrent plan editors (a Hypothesis property, on this run's database).

Several devices of two users edit one plan with random operations, go offline and come back,
lose answers and retry with the same ``op_id``: at the end every device's view, rebuilt from the
MenuPlanUpdated events it received (live or by resuming with ``last_event_id``), equals the
server's plan; every batch was applied exactly once; and replaying the events by the rules
reproduces the state, each stale overwrite reported to its writer.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import concurrently
from tests.plans.convergence import MEALS, SimClient, run_scenario
from tests.realtime.wsclient import Api

CLIENTS = 3


def steps() -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """A random session: edits, syncs (some answers lost), concurrent syncs, disconnects, reads."""
    # Repetition weighs the draw: mostly edits (updates above all), syncs and reads, which
    # together make stale views and so conflicts.
    kinds = ("update", "update", "update", "add", "add", "move", "remove", "sync", "sync", "sync",
             "drain", "drain", "drain", "sync_all", "disconnect", "connect")
    return st.lists(st.tuples(
        st.sampled_from(kinds), st.integers(0, CLIENTS - 1), st.integers(0, 2), st.integers(0, 6),
        st.sampled_from(MEALS), st.integers(1, 3), st.sampled_from(("title", "title", "servings", "note")),
        st.booleans()), min_size=8, max_size=40)


def check_convergence(servers: list[Any], examples: int) -> None:
    """Run the property against ``servers`` (one in-process server, or a cluster's processes)."""
    api = Api(servers[0])
    anna, boris = api.register("anna"), api.register("boris")
    group = api.call("POST", "/groups", anna, expect=201, json={"name": "Family", "open": True}).json()
    api.call("POST", f"/groups/{group['id']}/join", boris, expect=201)

    # No shrinking: an example costs a second of real traffic, and a shrink takes hundreds.
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(steps())
    def check(session: list[tuple[Any, ...]]) -> None:
        plan = api.call("POST", "/plans", anna, expect=201,
                        json={"title": "W", "week_start": "2026-12-07", "group_id": group["id"]}).json()
        users = (anna, boris, anna)  # anna has two devices
        clients = [SimClient(f"c{i}", users[i], servers, plan["id"]) for i in range(CLIENTS)]
        try:
            run_scenario(clients, session,
                         lambda: api.call("GET", f"/plans/{plan['id']}", anna, expect=200).json(),
                         lambda calls: concurrently(len(calls), lambda i: calls[i]()))
        finally:
            for client in clients:
                client.disconnect(abrupt=False)

    check()


def test_every_editor_converges_on_the_servers_plan(live_server) -> None:
    check_convergence([live_server], examples=25)
