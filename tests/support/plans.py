"""Simulated plan editors for the convergence property: offline edits kept in an outbox, lost
answers retried with the same ``op_id``, views rebuilt only from the MenuPlanUpdated events each
client received (live or by a real resume), and an oracle that replays the events in order."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support.rest import Api
from tests.support.waiting import concurrently
from tests.support.ws import Client, ConnectionClosed, ws_connect

MONDAY = dt.date(2026, 12, 7)
MEALS = ("breakfast", "lunch", "dinner", "snack")
DEFAULTS = {"recipe_id": None, "servings": 2, "cook_id": None, "note": None}


class SimClient:
    """One device of one user: a WebSocket that comes and goes, an outbox, a view of the plan."""

    def __init__(self, name: str, user: dict[str, Any], servers: list[Any], plan_id: int) -> None:
        self.name, self.user, self.servers, self.plan_id = name, user, servers, plan_id
        self.http = requests.Session()
        self.ws: Client | None = None
        self.connects = 0
        self.last_id = 0
        self.view: dict[int, dict[str, Any]] = {}
        self.versions: list[int] = []
        self.events: list[dict[str, Any]] = []
        self.outbox: list[tuple[str, list[dict[str, Any]]]] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.lost: dict[str, dict[str, Any]] = {}  # answers the client never "received"
        self.made = 0

    # -- the connection ---------------------------------------------------------------------
    def connect(self) -> None:
        if self.ws is not None:
            return
        server = self.servers[self.connects % len(self.servers)]
        self.connects += 1
        self.ws = ws_connect(server, self.user["access_token"], timeout=10,
                             query=f"?channels=plan:{self.plan_id}&last_event_id={self.last_id}")

    def disconnect(self, abrupt: bool) -> None:
        if self.ws is None:
            return
        if abrupt:
            self.ws.sock.close()  # no close frame: the server finds out by itself
        else:
            self.ws.close()
        self.ws = None

    def _take(self, frame: dict[str, Any]) -> None:
        if frame["type"] != "MenuPlanUpdated":
            return
        assert frame["id"] > self.last_id, (self.name, frame["id"], self.last_id)
        self.last_id = frame["id"]
        data = frame["data"]
        self.versions.append(data["version"])
        self.events.append(data)
        for entry in data["entries"]:
            if entry.get("removed"):
                self.view.pop(entry["id"], None)
            else:
                self.view[entry["id"]] = entry

    def drain(self, timeout: float = 0.05) -> None:
        """Read what has arrived (a short poll); a closed connection makes the client offline."""
        while self.ws is not None:
            try:
                self._take(self.ws.recv(timeout=timeout))
            except TimeoutError:
                return
            except (ConnectionClosed, OSError):
                self.disconnect(abrupt=True)

    def catch_up(self, version: int, timeout: float = 20.0) -> None:
        """Read until the view reached ``version`` (bounded)."""
        assert self.ws is not None
        while (self.versions[-1] if self.versions else 0) < version:
            self._take(self.ws.recv(timeout=timeout))

    # -- editing ----------------------------------------------------------------------------
    def edit(self, kind: str, pick: int, day: int, meal: str, size: int, field: str,
             rng: random.Random) -> None:
        """Queue a batch of ``size`` operations made against the client's current view."""
        ops = []
        for _ in range(size):
            ids = sorted(self.view)
            if kind == "add" or not ids:
                ops.append({"op": "add", "date": (MONDAY + dt.timedelta(days=day)).isoformat(),
                            "meal": meal, "title": f"{self.name}-{self.made}"})
            else:
                entry = self.view[ids[pick % len(ids)]]
                op: dict[str, Any] = {"op": kind, "entry_id": entry["id"]}
                if kind == "update":
                    op["base_version"] = entry["version"]
                    op[field] = {"title": f"{self.name}-{self.made}", "servings": rng.randint(1, 6),
                                 "note": rng.choice((None, f"n{self.made}"))}[field]
                elif kind == "move":
                    op.update(date=(MONDAY + dt.timedelta(days=day)).isoformat(), meal=meal)
                    if pick % 2:
                        op["base_version"] = entry["version"]
                ops.append(op)
            self.made += 1
            pick += 1
        self.outbox.append((f"{self.name}-b{self.made}", ops))

    def sync(self, lose_answer: bool = False) -> None:
        """Send the outbox in order; ``lose_answer``: the first answer never arrives (retry later)."""
        while self.outbox:
            op_id, ops = self.outbox[0]
            server = random.choice(self.servers)
            response = self.http.post(f"{server.url}/api/v1/plans/{self.plan_id}/ops", timeout=30,
                                      headers=self.user["headers"], json={"op_id": op_id, "ops": ops})
            assert response.status_code == 200, (op_id, ops, response.status_code, response.text)
            answer = response.json()
            if op_id in self.lost:
                assert answer == self.lost[op_id], "a retry must answer the first result"
            if lose_answer and op_id not in self.lost:
                self.lost[op_id] = answer
                return
            self.acks[op_id] = answer
            self.outbox.pop(0)


def replay(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Apply MenuPlanUpdated events in version order, checking each result against the rules
    (docs/plans.md); return the live entries they leave."""
    state: dict[int, dict[str, Any]] = {}
    field_versions: dict[int, dict[str, int]] = {}
    removed: set[int] = set()
    for event in events:
        version, written = event["version"], set()
        for op, result in zip(event["ops"], event["results"], strict=True):
            entry_id = result["entry_id"]
            assert op["entry_id"] == entry_id
            if op["op"] == "add":
                assert result == {"entry_id": entry_id, "status": "applied"}
                state[entry_id] = {"id": entry_id, **DEFAULTS, "date": op["date"], "meal": op["meal"],
                                   "title": op["title"], "version": version}
                field_versions[entry_id] = dict.fromkeys(("date", "meal", "title", *DEFAULTS), version)
                written.update((entry_id, f) for f in field_versions[entry_id])
                continue
            if entry_id in removed:
                expected: dict[str, Any] = {"entry_id": entry_id, "status": "applied"}
                if op["op"] != "remove":
                    expected.update(status="conflict", reason="removed", current=None)
                assert result == expected, (op, result)
                continue
            entry = state[entry_id]
            if op["op"] == "remove":
                stale = (op.get("base_version") is not None and entry["version"] > op["base_version"]
                         and not any(key[0] == entry_id for key in written))
                assert result["status"] == ("conflict" if stale else "applied"), (op, result)
                removed.add(entry_id)
                del state[entry_id]
                continue
            base = op.get("base_version")
            replaced = {}
            for name in set(op) - {"op", "entry_id", "base_version"}:
                if entry[name] == op[name]:
                    continue
                if (base is not None and field_versions[entry_id][name] > base
                        and (entry_id, name) not in written):
                    replaced[name] = entry[name]
                entry[name] = op[name]
                field_versions[entry_id][name] = version
                written.add((entry_id, name))
            entry["version"] = version
            if replaced:  # the last writer won, and was told what it replaced
                assert result == {"entry_id": entry_id, "status": "conflict", "reason": "stale",
                                  "current": replaced}, (op, result)
            else:
                assert result == {"entry_id": entry_id, "status": "applied"}, (op, result)
    return state


def run_scenario(clients: list[SimClient], steps: list[tuple[Any, ...]], api_get: Any,
                 spawn_all: Any) -> None:
    """Play ``steps``, then bring every client online and check convergence and exactly-once."""
    rng = random.Random(len(steps))
    for client in clients:
        client.connect()
    # A week with three meals already planned, seen by everyone: the session edits them at once.
    clients[0].edit("add", 0, 0, "dinner", 3, "title", rng)
    clients[0].sync()
    for client in clients:
        client.catch_up(1)
    for kind, index, pick, day, meal, size, field, flag in steps:
        client = clients[index]
        if kind in ("add", "update", "move", "remove"):
            client.edit(kind, pick, day, meal, size, field, rng)
        elif kind == "sync":
            client.sync(lose_answer=flag)
            client.drain(timeout=0.1)  # online, it hears its own batch (and what came before)
        elif kind == "sync_all":  # every client at once: concurrent batches on one plan
            spawn_all([c.sync for c in clients])
        elif kind == "disconnect":
            client.disconnect(abrupt=flag)
        elif kind == "connect":
            client.connect()
        elif kind == "drain":  # the others' changes reach this view only when it reads them
            client.drain(timeout=0.2)
    for client in clients:
        client.connect()
        client.sync()
    server = api_get()
    for client in clients:
        client.catch_up(server["version"])
    for client in clients:
        assert client.versions == list(range(1, server["version"] + 1)), (client.name, client.versions)
        assert client.view == {e["id"]: e for e in server["entries"]}, client.name
        assert client.events == clients[0].events
    # Every batch sent was applied exactly once: one version, one event, the answer it gave.
    sent = {op_id: answer for client in clients for op_id, answer in client.acks.items()}
    by_op = {event["op_id"]: event for event in clients[0].events}
    assert len(by_op) == len(clients[0].events) == server["version"] == len(sent)
    for op_id, answer in sent.items():
        assert answer == {"version": by_op[op_id]["version"], "results": by_op[op_id]["results"]}
    # Nothing lost unseen: replaying the events by the rules gives the server's state, and every
    # value a stale update replaced was reported to its writer (checked inside replay).
    assert replay(clients[0].events) == {e["id"]: e for e in server["entries"]}


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
