"""Menu plans: one batch of operations fanned out to 50 editors and 1k viewers, and a burst of
batches from 50 editors at once.

Every connection (the C load generator's, one user's token) listens on ``plan:<id>`` only; the
load generator orders MenuPlanUpdated by its ``version``, so a lost, repeated or reordered batch
shows. The latency of one batch is from the POST leaving here to the frame at each connection.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any

from bench.harness import BenchError, Server, median, percentile, register, request

EDITORS, VIEWERS = 50, 1000
BATCHES, WARM = 100, 10
BURST_PER_EDITOR = 10
MONDAY = "2026-12-07"


def _op(entries: list[int], i: int) -> dict[str, Any]:
    # Updates of a week already planned: a plan holds at most 300 entries, and this is what
    # editors do most. The base is the first version: later ones conflict, and still apply.
    return {"op": "update", "entry_id": entries[i % len(entries)], "base_version": 1, "note": f"note {i}"}


def _setup(server: Server) -> tuple[dict[str, Any], list[dict[str, Any]], int, list[int]]:
    """The owner, 49 more editors (members of the owner's group), their plan's id and entries."""
    port = server.port
    owner = register(server, "planner")
    status, group = request(port, "POST", "/api/v1/groups", {"name": "Bench family", "open": True},
                            owner["access_token"])
    if status != 201:
        raise BenchError(f"POST /groups answered {status}: {group}")
    editors = [owner]
    for i in range(1, EDITORS):
        user = register(server, f"editor{i}")
        request(port, "POST", f"/api/v1/groups/{group['id']}/join", token=user["access_token"])
        editors.append(user)
    status, plan = request(port, "POST", "/api/v1/plans",
                           {"title": "Bench week", "week_start": MONDAY, "group_id": group["id"]},
                           owner["access_token"])
    if status != 201:
        raise BenchError(f"POST /plans answered {status}: {plan}")
    week = [{"op": "add", "date": MONDAY, "meal": "dinner", "title": f"dish {i}"} for i in range(EDITORS)]
    status, body = request(port, "POST", f"/api/v1/plans/{plan['id']}/ops", {"op_id": "week", "ops": week},
                           owner["access_token"])
    if status != 200:
        raise BenchError(f"POST /plans/{plan['id']}/ops answered {status}: {body}")
    return owner, editors, int(plan["id"]), [r["entry_id"] for r in body["results"]]


def plans(ctx: Any) -> dict[str, Any]:
    """One batch → 1,050 connections (p50/p99), then a burst from 50 editors (batches per second)."""
    server = ctx.itcook("plans")
    owner, editors, plan_id, entries = _setup(server)
    clients = EDITORS + VIEWERS
    lg = ctx.loadgen_for(server, "ws", f"/api/v1/realtime/ws?channels=plan:{plan_id}",
                         owner["access_token"], max_conns=clients, seq_key="version")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    samples: list[float] = []
    lasts: list[float] = []
    lost = 0
    try:
        opened = int(lg.connect(clients)["open"])
        server.wait_subscribers(opened, channel=f"plan:{plan_id}")
        for i in range(WARM + BATCHES):
            lg.arm(1, 10)
            t0 = time.monotonic_ns()
            status, body = request(server.port, "POST", f"/api/v1/plans/{plan_id}/ops",
                                   {"op_id": f"one-{i}", "ops": [_op(entries, i)]}, owner["access_token"],
                                   conn=conn)
            if status != 200:
                raise BenchError(f"POST /plans/{plan_id}/ops answered {status}: {body}")
            res = lg.result()
            lost += int(res["missing"]) + int(res["gaps"]) + int(res["dups"])
            if i >= WARM:
                lat = sorted((d - t0) / 1e6 for d in lg.done_times())
                samples.extend(lat)
                lasts.append(lat[-1])
        # The burst: every editor sends its batches back to back, all editors at once.
        total = EDITORS * BURST_PER_EDITOR
        lg.arm(total, 120)
        errors: list[str] = []

        def edit(user: dict[str, Any], n: int) -> None:
            own = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            try:
                for k in range(BURST_PER_EDITOR):
                    status, body = request(server.port, "POST", f"/api/v1/plans/{plan_id}/ops",
                                           {"op_id": f"burst-{n}-{k}", "ops": [_op(entries, n)]},
                                           user["access_token"], conn=own)
                    if status != 200:
                        errors.append(f"{status}: {body}")
            finally:
                own.close()

        threads = [threading.Thread(target=edit, args=(user, n)) for n, user in enumerate(editors)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        answered = time.monotonic() - started
        res = lg.result()
        delivered = time.monotonic() - started
        lost += int(res["missing"]) + int(res["gaps"]) + int(res["dups"])
        if errors:
            raise BenchError(f"burst: {len(errors)} refused, first {errors[0]}")
    finally:
        conn.close()
        lg.quit()
        server.stop()
    samples.sort()
    lasts.sort()
    return {
        "clients": opened, "batches": BATCHES, "lost": lost,
        "p50_ms": round(percentile(samples, 50), 3), "p99_ms": round(percentile(samples, 99), 3),
        "last_client_p50_ms": round(median(lasts), 3), "last_client_p99_ms": round(percentile(lasts, 99), 3),
        "burst_batches": total, "burst_batches_per_s": round(total / answered, 1),
        "burst_all_delivered_s": round(delivered, 3),
    }
