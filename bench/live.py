"""Live broadcasts: 5k viewers each reacting once a second, and one chat message to 10k viewers
beside the raw loop.

Reactions: every viewer connection (the C load generator's) sends one ``React`` a second for
``live_seconds`` seconds; a Python observer on ``live:<id>`` sums the LiveReactions it gets.
What is reported: the LiveReactions published per second (one, whatever the viewers), that
their counts sum to the reactions sent, and the server's CPU seconds per second, beside the same
connections idle for as long (the paired baseline: what the reactions themselves cost).

Chat: one ``POST /live/<id>/chat`` to ``live_chat_n`` viewers (the LiveChat frames ordered by
``message_id``) and one event of the raw loop to as many clients, in turn, round after round:
the ratio of the last delivery's latency, per round, as ``paired`` does for plain events.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import time
from typing import Any

from bench.harness import BenchError, LoadGen, Server, median, percentile, register, request
from tests.support.ws import ws_connect

#: ``👍`` as JSON escapes: the load generator's command line is ASCII.
REACT = '{{"type":"React","live_id":{live_id},"emoji":"\\ud83d\\udc4d"}}'


def _broadcast(server: Server, token: str) -> int:
    status, live = request(server.port, "POST", "/api/v1/live", {"title": "Bench plov"}, token)
    if status != 201:
        raise BenchError(f"POST /live answered {status}: {live}")
    status, body = request(server.port, "POST", f"/api/v1/live/{live['id']}/start", None, token)
    if status != 200:
        raise BenchError(f"POST /live/{live['id']}/start answered {status}: {body}")
    return int(live["id"])


def _cpu_per_second(server: Server, seconds: float, each_second: Any = None) -> float:
    cpu, started = server.cpu(), time.monotonic()
    for i in range(int(seconds)):
        if each_second is not None:
            each_second()
        time.sleep(max(0.0, started + i + 1 - time.monotonic()))
    return (server.cpu() - cpu) / (time.monotonic() - started)


def reactions(ctx: Any) -> dict[str, Any]:
    """5k viewers reacting once a second → LiveReactions per second, counts, server CPU per second."""
    p = ctx.params
    server = ctx.itcook("live_reactions")
    lg: LoadGen | None = None
    observer = None
    try:
        token = register(server)["access_token"]
        live_id = _broadcast(server, token)
        channel = f"live:{live_id}"
        lg = ctx.loadgen_for(server, "ws", f"/api/v1/realtime/ws?channels={channel}", token,
                             max_conns=p.live_viewers)
        opened = int(lg.connect(p.live_viewers, inflight=500)["open"])
        if opened < p.live_viewers:
            raise BenchError(f"{opened} of {p.live_viewers} viewers connected")
        observer = ws_connect(server, token, query=f"?channels={channel}", timeout=30)
        server.wait_subscribers(opened + 1, channel=channel)
        idle_cpu = _cpu_per_second(server, p.live_seconds)
        sent = 0

        viewers = lg

        def react() -> None:
            nonlocal sent
            sent += int(viewers.send(REACT.format(live_id=live_id))["sent"])

        busy_cpu = _cpu_per_second(server, p.live_seconds, react)
        counted, stamps, deadline = 0, [], time.monotonic() + 30
        while counted < sent and time.monotonic() < deadline:
            frame = observer.recv(timeout=max(0.1, deadline - time.monotonic()))
            if frame["type"] == "LiveReactions":
                counted += sum(frame["data"]["counts"].values())
                stamps.append(frame["ts"])
    finally:
        if observer is not None:
            observer.close()
        if lg is not None:
            lg.quit()
        server.stop()
    if counted != sent:
        raise BenchError(f"LiveReactions counted {counted} of {sent} reactions sent")
    span = _seconds(stamps[0], stamps[-1]) if len(stamps) > 1 else 0.0
    return {"viewers": opened, "seconds": p.live_seconds, "reactions_sent": sent,
            "reactions_counted": counted,
            "live_reactions_frames": len(stamps),
            "live_reactions_per_s": round((len(stamps) - 1) / span, 3) if span else None,
            "lost": sent - counted,
            "server_cpu_s_per_s": round(busy_cpu, 3), "idle_server_cpu_s_per_s": round(idle_cpu, 3),
            "reactions_cpu_s_per_s": round(busy_cpu - idle_cpu, 3)}


def _seconds(first: str, last: str) -> float:
    def parse(ts: str) -> dt.datetime:
        return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))

    return (parse(last) - parse(first)).total_seconds()


def chat(ctx: Any) -> dict[str, Any]:
    """One chat message to N viewers beside one raw-loop event to N clients, round by round."""
    from bench.scenarios import KINDS, _summary, fan_out_once

    p = ctx.params
    servers: dict[str, Server] = {}
    lgs: dict[str, LoadGen] = {}
    runs: dict[str, list[dict[str, Any]]] = {"itcook": [], "raw": []}
    conn: http.client.HTTPConnection | None = None
    try:
        servers["itcook"] = server = ctx.itcook("live_chat")
        token = register(server)["access_token"]
        live_id = _broadcast(server, token)
        lgs["itcook"] = ctx.loadgen_for(server, "ws", f"/api/v1/realtime/ws?channels=live:{live_id}",
                                        token, max_conns=p.live_chat_n, seq_key="message_id")
        servers["raw"] = Server("live_chat_raw", KINDS["raw"]["module"], ctx.workdir)
        lgs["raw"] = ctx.loadgen_for(servers["raw"], "raw", KINDS["raw"]["path"], max_conns=p.live_chat_n)
        for kind, lg in lgs.items():
            opened = int(lg.connect(p.live_chat_n, inflight=500)["open"])
            if opened < p.live_chat_n:
                raise BenchError(f"{kind}: {opened} of {p.live_chat_n} connections opened")
        server.wait_subscribers(p.live_chat_n, channel=f"live:{live_id}")
        servers["raw"].wait_subscribers(p.live_chat_n)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

        def say(i: int) -> dict[str, Any]:
            lg = lgs["itcook"]
            lg.arm(1, 30)
            cpu, t0 = server.cpu(), time.monotonic_ns()
            assert conn is not None
            conn.request("POST", f"/api/v1/live/{live_id}/chat", body=json.dumps({"text": f"chat {i}"}),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                raise BenchError(f"POST /live/{live_id}/chat answered {response.status}")
            res = lg.result()
            latencies = sorted((d - t0) / 1e6 for d in lg.done_times())
            return {"lost": int(res["missing"]) + int(res["gaps"]) + int(res["dups"]),
                    "connections": res["open"], "complete": res["complete"],
                    "timed_out": bool(res["timed_out"]), "deliveries": int(res["frames"]),
                    "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
                    "last_ms": latencies[-1] if latencies else math.nan,
                    "first_ms": latencies[0] if latencies else math.nan,
                    "loadgen_cpu_s": res["cpu_s"], "server_cpu_s": round(server.cpu() - cpu, 3),
                    "error": res["error"]}

        say(0)  # warm-up
        fan_out_once(servers["raw"], lgs["raw"])
        for round_ in range(p.live_chat_rounds):
            for kind in (("itcook", "raw") if round_ % 2 == 0 else ("raw", "itcook")):
                time.sleep(0.2)
                run = say(round_ + 1) if kind == "itcook" else fan_out_once(servers["raw"], lgs["raw"])
                runs[kind].append(run)
    finally:
        if conn is not None:
            conn.close()
        for lg in lgs.values():
            lg.quit()
        for one in servers.values():
            one.stop()
    ratios = [i["last_ms"] / r["last_ms"] for i, r in zip(runs["itcook"], runs["raw"], strict=True)]
    return {"connections": p.live_chat_n, "rounds": p.live_chat_rounds,
            "lost": sum(r["lost"] for kind in runs for r in runs[kind]),
            "of_raw_per_round": [round(x, 3) for x in ratios], "of_raw_median": round(median(ratios), 3),
            "itcook": _summary(runs["itcook"]), "raw": _summary(runs["raw"])}
