"""The scenarios of issue 7. Each returns a dict of numbers; ``lost`` counts missing messages.

A scenario starts its own server(s) (a fresh SQLite event log on tmpfs unless it says
otherwise), connects the load generator, measures, and stops everything, whatever happens.
"""

from __future__ import annotations

import datetime as dt
import http.client
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.calls import calls
from bench.calls_browser import calls_browser
from bench.harness import (
    ALL_CPUS,
    PG_ADMIN_URL,
    REDIS_URL,
    ROOT,
    SERVER_CPUS,
    BenchError,
    LoadGen,
    Server,
    itcook_env,
    median,
    migrate,
    percentile,
    register,
    request,
)
from bench.live import chat as live_chat
from bench.live import reactions as live_reactions
from bench.nearby import nearby
from bench.plans import plans
from bench.servers.frames import PAD
from tests.support.servers import reachable


@dataclass
class Params:
    """Sizes and repetitions; ``quick`` is the two-minute subset."""

    quick: bool = False
    steps: tuple[int, ...] = (1000, 5000, 10000)
    reps: int = 5                      # one-event fan-outs per step (the median is reported)
    sustained_n: int = 5000
    sustained_events: int = 100
    sustained_reps: int = 3
    sse_n: int = 10000
    e2e_clients: int = 1000
    e2e_requests: int = 200
    storm_n: int = 10000
    storm_rate: float = 10.0           # events per second published during the storm
    storm_inflight: int = 500          # handshakes in flight (clients reconnect with jitter)
    storm_timeout: float = 60.0
    log_rows: int = 1_000_000
    replay_missed: int = 1000
    replay_reps: int = 10
    held_target: int = 19000           # connections tried for "held by one process"
    redis_n: int = 5000
    redis_events: int = 60
    beats_crowd: int = 10000           # connections that get a heartbeat every second
    paired_n: int = 10000              # IT Cook and the raw loop, one event each in turn
    paired_rounds: int = 8
    beats_events: int = 300            # personal notifications timed meanwhile
    flood_clients: int = 6             # clients looping on failed logins (login_flood)
    flood_samples: int = 100           # REST requests and deliveries timed, idle and under flood
    nearby_areas: int = 100_000        # opted-in areas one offer is matched against
    nearby_offers: int = 300           # offers timed one by one (p50 / p99)
    nearby_burst: int = 20             # offers posted back to back (the fan-out's writes)
    live_viewers: int = 5000           # viewers reacting once a second (live_reactions)
    live_seconds: int = 10             # seconds of reactions, and of the idle baseline
    live_chat_n: int = 10000           # viewers of one chat message (live_chat), beside the raw loop
    live_chat_rounds: int = 8

    @classmethod
    def quick_set(cls) -> Params:
        return cls(quick=True, steps=(1000, 5000), reps=3, sustained_events=40, sustained_reps=1,
                   sse_n=5000, e2e_requests=100, storm_n=2000, log_rows=100_000, replay_reps=5,
                   held_target=0, redis_n=2000, redis_events=30, beats_crowd=2000, beats_events=100,
                   paired_n=5000, paired_rounds=4, flood_samples=40, nearby_areas=20_000,
                   nearby_offers=100, live_viewers=1000, live_seconds=5, live_chat_n=2000,
                   live_chat_rounds=4)


@dataclass
class Context:
    """What every scenario shares: parameters, the scratch folder, the load generator binary."""

    params: Params
    workdir: Path
    loadgen: Path
    servers: list[Server] = field(default_factory=list)

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.workdir / (name + '.db')}"

    def itcook(self, name: str, database_url: str | None = None, cpus: set[int] | None = None,
               migrate_db: bool = True, **extra: str) -> Server:
        """A fresh IT Cook server (its own SQLite log unless ``database_url`` is given)."""
        url = database_url or self.sqlite_url(name)
        if migrate_db:
            migrate(url)
        return Server(name, "bench.servers.itcook", self.workdir, env=itcook_env(url, **extra),
                      cpus=cpus if cpus is not None else set(SERVER_CPUS))

    def loadgen_for(self, server: Server, mode: str, path: str, token: str | None = None,
                    max_conns: int = 20000, seq_key: str = "seq",
                    cpus: set[int] | None = None) -> LoadGen:
        headers = [f"Authorization: Bearer {token}"] if token else []
        return LoadGen(self.loadgen, server.port, mode, path, headers=headers, seq_key=seq_key,
                       max_conns=max_conns, cpus=cpus, workdir=self.workdir)


#: How each system under test is started and spoken to.
KINDS: dict[str, dict[str, str]] = {
    "itcook": {"mode": "ws", "path": "/api/v1/realtime/ws"},
    "itcook_sse": {"mode": "sse", "path": "/api/v1/realtime/sse"},
    "socketio": {"mode": "sio", "path": "/socket.io/?EIO=4&transport=websocket",
                 "module": "bench.servers.socketio_app"},
    "raw": {"mode": "raw", "path": "/raw", "module": "bench.servers.raw"},
    "raw_sse": {"mode": "sse", "path": "/raw-sse", "module": "bench.servers.raw"},
}


def _start(ctx: Context, kind: str, name: str = "") -> tuple[Server, str | None]:
    """A server of ``kind`` (its own database, named ``name`` or the kind) and a user's token."""
    if kind.startswith("itcook"):
        server = ctx.itcook(name or kind)
        try:
            return server, register(server)["access_token"]
        except BaseException:
            server.stop()
            raise
    return Server(name or kind, KINDS[kind]["module"], ctx.workdir), None


# -- one measurement window ----------------------------------------------------------------------
def fan_out_once(server: Server, lg: LoadGen, count: int = 1, timeout: float = 30.0,
                 channel: str = "system") -> dict[str, Any]:
    """Arm the clients, publish ``count`` events, wait for every copy; latencies from the trigger."""
    lg.arm(count, timeout)
    server_cpu = server.cpu()
    t0 = time.monotonic_ns()
    server.publish(count, channel)
    res = lg.result()
    server_cpu = server.cpu() - server_cpu
    done = sorted(lg.done_times())
    latencies = [(d - t0) / 1e6 for d in done]
    deliveries = int(res["frames"])
    lost = int(res["missing"]) + int(res["gaps"]) + int(res["dups"])
    return {
        "connections": res["open"], "complete": res["complete"], "lost": lost,
        "timed_out": bool(res["timed_out"]), "deliveries": deliveries,
        "first_ms": (res["first_ns"] - t0) / 1e6 if res["first_ns"] else math.nan,
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "last_ms": latencies[-1] if latencies else math.nan,
        "seconds": (res["last_ns"] - t0) / 1e9 if res["last_ns"] else math.nan,
        "loadgen_cpu_s": res["cpu_s"], "server_cpu_s": round(server_cpu, 3),
        "error": res["error"],
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repetitions, plus what must add up over all of them."""
    out: dict[str, Any] = {key: round(median([r[key] for r in runs]), 3)
                           for key in ("first_ms", "p50_ms", "p99_ms", "last_ms")}
    deliveries = sum(r["deliveries"] for r in runs)
    out["lost"] = sum(r["lost"] for r in runs)
    out["deliveries"] = deliveries
    out["loadgen_cpu_us_per_delivery"] = round(1e6 * sum(r["loadgen_cpu_s"] for r in runs)
                                               / max(1, deliveries), 3)
    out["server_cpu_us_per_delivery"] = round(1e6 * sum(r["server_cpu_s"] for r in runs)
                                              / max(1, deliveries), 3)
    out["runs"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in runs]
    return out


def _sustained(server: Server, lg: LoadGen, p: Params) -> dict[str, Any]:
    runs = []
    for _ in range(p.sustained_reps):
        run = fan_out_once(server, lg, p.sustained_events, timeout=120)
        run["deliveries_per_s"] = round(run["deliveries"] / run["seconds"]) if run["seconds"] else 0
        runs.append(run)
        time.sleep(0.3)
    deliveries = max(1, sum(r["deliveries"] for r in runs))
    loadgen_cpu = sum(r["loadgen_cpu_s"] for r in runs)
    return {
        "connections": runs[0]["connections"], "events": p.sustained_events,
        "deliveries_per_s": round(median([r["deliveries_per_s"] for r in runs])),
        "lost": sum(r["lost"] for r in runs),
        "loadgen_cpu_us_per_delivery": round(1e6 * loadgen_cpu / deliveries, 3),
        "loadgen_busy": round(loadgen_cpu / sum(r["seconds"] for r in runs), 3),
        "server_cpu_us_per_delivery": round(1e6 * sum(r["server_cpu_s"] for r in runs) / deliveries, 3),
        "runs": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
    }


def _drain(server: Server, timeout: float = 20.0) -> None:
    """Wait until the server has forgotten every connection of the previous step."""
    deadline = time.monotonic() + timeout
    while server.ready().get("subscribers", 0):
        if time.monotonic() > deadline:  # leftovers would skew the next baseline and counts
            raise BenchError(f"connections of the previous step still subscribed after {timeout} s")
        time.sleep(0.1)


# -- scenarios ---------------------------------------------------------------------------------
def fanout(ctx: Context, kind: str) -> dict[str, Any]:
    """One event to 1k / 5k / 10k subscribers, sustained events to 5k, memory, and (IT Cook) held."""
    p = ctx.params
    steps = (p.sse_n,) if kind == "itcook_sse" else p.steps
    held_target = p.held_target if kind == "itcook" else 0
    server, token = _start(ctx, kind)
    lg = ctx.loadgen_for(server, KINDS[kind]["mode"], KINDS[kind]["path"], token,
                         max_conns=max(steps[-1], held_target))
    out: dict[str, Any] = {"kind": kind, "steps": {}, "errors": []}
    try:
        # Warm up (lazy imports, first queries, JIT-free but cache-full), then the idle baseline.
        lg.connect(10)
        server.wait_subscribers(10)
        fan_out_once(server, lg)
        lg.close()
        _drain(server)
        time.sleep(0.5)
        rss0, fds0 = server.rss(), server.fds()
        out["rss_idle_mb"] = round(rss0 / 2**20, 1)
        for n in steps:
            step: dict[str, Any] = {"requested": n}
            out["steps"][str(n)] = step
            try:
                if not _step(ctx, kind, server, lg, n, step, rss0, fds0, out):
                    break
            except BenchError as exc:  # the server could not serve this step: a finding, not a crash
                step["error"] = str(exc)[:300]
                out["errors"].append(f"{n}: {exc}"[:300])
                break
        if held_target and not out["errors"]:
            out["held"] = _held(server, lg, held_target)
        elif held_target:
            # Not tried further; held = the largest step at which every connection got its event.
            verified = [st["connected"] for st in out["steps"].values() if "p50_ms" in st and not st["lost"]]
            accepted = [st.get("connected", 0) for st in out["steps"].values()]
            out["held"] = {"requested": held_target, "held": max(verified, default=0),
                           "accepted": max(accepted, default=0), "error": "; ".join(out["errors"])[:300]}
    finally:
        lg.quit()
        server.stop()
    out["lost"] = (sum(s.get("lost", 0) for s in out["steps"].values())
                   + out.get("sustained", {}).get("lost", 0) + out.get("held", {}).get("lost", 0)
                   + out.get("sustained_one_write_per_event", {}).get("lost", 0))
    return out


def _step(ctx: Context, kind: str, server: Server, lg: LoadGen, n: int, step: dict[str, Any],
          rss0: int, fds0: int, out: dict[str, Any]) -> bool:
    """Connect up to ``n``, measure memory and one-event fan-outs (and sustained at its size).

    Returns False when fewer than ``n`` connections could be opened (no bigger step then).
    """
    p = ctx.params
    con = lg.connect(n)
    opened = int(con["open"])
    step.update({"connected": opened, "connect_s": con["elapsed_s"], "connect_failures": con["failures"]})
    if opened < n:
        out["errors"].append(f"{n} connections requested, {opened} accepted "
                             f"({con['error'] or 'handshake timed out'})")
    if not server.alive():
        raise BenchError(f"{kind} died: {server.log_tail(300)}")
    server.wait_subscribers(opened)
    time.sleep(0.5)
    step["rss_kb_per_connection"] = round((server.rss() - rss0) / opened / 1024, 1)
    step["fds_per_connection"] = round((server.fds() - fds0) / opened, 2)
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(p.reps):
            runs.append(fan_out_once(server, lg))
            time.sleep(0.2)
    finally:
        if runs:  # a later repetition that fails must not hide an earlier one's losses
            step.update(_summary(runs))
    if n == p.sustained_n and kind != "itcook_sse":
        out["sustained"] = _sustained(server, lg, p)
        if kind == "itcook":
            # As shipped, queued events reach a socket in one write; the raw loop writes one
            # frame per send. Like for like: the same run with one write per event.
            shipped = int(request(server.port, "POST", "/bench/dispatch_batch?size=1")[1]["previous"])
            out["sustained_one_write_per_event"] = _sustained(server, lg, p)
            request(server.port, "POST", f"/bench/dispatch_batch?size={shipped}")
            out["dispatch_batch"] = shipped
    return opened >= n


def _held(server: Server, lg: LoadGen, target: int) -> dict[str, Any]:
    """Open connections up to ``target``; held = those that then receive one event."""
    con = lg.connect(target, inflight=500, timeout=30 + target * 0.004)
    opened = int(con["open"])
    result: dict[str, Any] = {"requested": target, "connected": opened, "error": con["error"],
                              "fds": server.fds(), "rss_mb": round(server.rss() / 2**20, 1)}
    if server.alive() and opened:
        try:
            server.wait_subscribers(opened, timeout=20)
        except BenchError as exc:
            result["error"] = str(exc)
        run = fan_out_once(server, lg, timeout=30)
        result["held"] = run["complete"]  # connections that received the event
        result["lost"] = run["lost"]
        result["last_ms"] = round(run["last_ms"], 3)
    else:
        result["held"] = 0
    return result


def e2e(ctx: Context) -> dict[str, Any]:
    """REST request that emits a signal (a community post) → every one of 1k clients receives it."""
    p = ctx.params
    server = ctx.itcook("e2e")
    token = register(server)["access_token"]
    lg = ctx.loadgen_for(server, "ws", KINDS["itcook"]["path"], token, max_conns=p.e2e_clients,
                         seq_key="post_id")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    samples: list[float] = []
    per_request: list[tuple[float, float, float]] = []
    responses: list[float] = []
    lost = 0
    try:
        con = lg.connect(p.e2e_clients)
        server.wait_subscribers(int(con["open"]), channel="community")
        warm = 10
        for i in range(warm + p.e2e_requests):
            lg.arm(1, 10)
            t0 = time.monotonic_ns()
            conn.request("POST", "/api/v1/community/posts", body=f'{{"content": "bench post {i}"}}',
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            answered = (time.monotonic_ns() - t0) / 1e6
            if response.status != 201:
                raise BenchError(f"POST /community/posts answered {response.status}")
            res = lg.result()
            lost += int(res["missing"]) + int(res["gaps"]) + int(res["dups"])
            if i < warm:
                continue
            lat = sorted((d - t0) / 1e6 for d in lg.done_times())
            samples.extend(lat)
            per_request.append((lat[0], percentile(lat, 50), lat[-1]))
            responses.append(answered)
    finally:
        conn.close()
        lg.quit()
        server.stop()
    samples.sort()
    lasts = sorted(r[2] for r in per_request)
    firsts = sorted(r[0] for r in per_request)
    return {
        "clients": p.e2e_clients, "requests": p.e2e_requests, "lost": lost,
        "p50_ms": round(percentile(samples, 50), 3), "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(samples[-1], 3),
        "first_client_p99_ms": round(percentile(firsts, 99), 3),
        "last_client_p50_ms": round(percentile(lasts, 50), 3),
        "last_client_p99_ms": round(percentile(lasts, 99), 3),
        "rest_response_p50_ms": round(median(responses), 3),
    }


def paired(ctx: Context, transport: str = "ws") -> dict[str, Any]:
    """One event to N clients, IT Cook and the raw loop in turn, both servers up all along.

    The host's speed drifts within a minute (the raw loop alone: 54–136 ms to 10k in one run of
    five), so scenarios run one after the other compare different minutes. Here each round
    measures both, a fraction of a second apart, alternating which goes first. ``transport``
    is ``ws`` (WebSocket frames) or ``sse`` (event streams: the raw loop writes SSE messages).
    """
    p = ctx.params
    kinds = ("itcook", "raw") if transport == "ws" else ("itcook_sse", "raw_sse")
    servers: dict[str, Server] = {}
    lgs: dict[str, LoadGen] = {}
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    try:
        for kind in kinds:
            servers[kind], token = _start(ctx, kind, name=f"paired_{kind}")
            lgs[kind] = ctx.loadgen_for(servers[kind], KINDS[kind]["mode"], KINDS[kind]["path"], token,
                                        max_conns=p.paired_n)
            opened = int(lgs[kind].connect(p.paired_n, inflight=500)["open"])
            if opened < p.paired_n:
                raise BenchError(f"{kind}: {opened} of {p.paired_n} connections opened")
            servers[kind].wait_subscribers(opened)
            fan_out_once(servers[kind], lgs[kind])  # warm-up
        for round_ in range(p.paired_rounds):
            for kind in (kinds if round_ % 2 == 0 else kinds[::-1]):
                time.sleep(0.2)
                runs[kind].append(fan_out_once(servers[kind], lgs[kind]))
    finally:
        for lg in lgs.values():
            lg.quit()
        for server in servers.values():
            server.stop()
    ratios = [r["last_ms"] / i["last_ms"] for i, r in zip(runs[kinds[0]], runs[kinds[1]], strict=True)]
    out: dict[str, Any] = {"transport": transport, "connections": p.paired_n, "rounds": p.paired_rounds,
                           "lost": sum(r["lost"] for kind in kinds for r in runs[kind]),
                           "of_raw_per_round": [round(x, 3) for x in ratios],
                           "of_raw_median": round(median(ratios), 3)}
    for key, kind in zip(("itcook", "raw"), kinds, strict=True):
        out[key] = _summary(runs[kind])
    return out


def heartbeats(ctx: Context) -> dict[str, Any]:
    """A personal notification's latency while a crowd gets heartbeats every second, and without.

    Heartbeats to ``beats_crowd`` connections are writes to every socket, like a fan-out to all;
    a notification to one user (4 connections) published meanwhile must not wait for them.
    Events go out at random moments (0–40 ms apart), so some land while a heartbeat is written.
    """
    p = ctx.params
    out: dict[str, Any] = {"crowd": p.beats_crowd, "events": p.beats_events, "lost": 0}
    for label, interval in (("quiet", "3600"), ("beating", "1")):
        server = ctx.itcook(f"beats-{label}", ITCOOK_REALTIME_HEARTBEAT_INTERVAL=interval)
        loadgens: list[LoadGen] = []
        rng = random.Random(7)  # the same moments in both runs
        try:
            crowd = ctx.loadgen_for(server, "ws", KINDS["itcook"]["path"], register(server)["access_token"],
                                    max_conns=p.beats_crowd)
            loadgens.append(crowd)
            body = register(server, "target")
            channel = f"user:{body['user']['id']}"
            target = ctx.loadgen_for(server, "ws", KINDS["itcook"]["path"], body["access_token"],
                                     max_conns=4)
            loadgens.append(target)
            crowd.connect(p.beats_crowd, inflight=500)
            target.connect(4)
            server.wait_subscribers(p.beats_crowd + 4)
            server.wait_subscribers(4, channel=channel)
            runs = []
            for i in range(10 + p.beats_events):
                run = fan_out_once(server, target, channel=channel, timeout=10)
                out["lost"] += run["lost"]
                if i >= 10:  # warm-up
                    runs.append(run)
                time.sleep(rng.uniform(0, 0.04))
            lasts = sorted(r["last_ms"] for r in runs)
            out[label] = {"heartbeat_interval_s": float(interval), "p50_ms": round(percentile(lasts, 50), 3),
                          "p99_ms": round(percentile(lasts, 99), 3), "max_ms": round(lasts[-1], 3),
                          "over_10_ms": sum(x > 10 for x in lasts),
                          "server_cpu_s": round(sum(r["server_cpu_s"] for r in runs), 3)}
        finally:
            for lg in loadgens:
                lg.quit()
            server.stop()
    return out


class _Publisher(threading.Thread):
    """Publishes one event every 1/rate seconds until stopped; remembers the last sequence number."""

    def __init__(self, server: Server, rate: float) -> None:
        super().__init__(daemon=True)
        self.server, self.interval = server, 1.0 / rate
        self.stopping = threading.Event()
        self.last_seq = 0
        self.error: Exception | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            while not self.stopping.is_set():
                self.last_seq = self.server.publish(1, conn=conn)
                self.stopping.wait(self.interval)
        except Exception as exc:  # reported by the scenario
            self.error = exc
        finally:
            conn.close()


def storm(ctx: Context) -> dict[str, Any]:
    """10k clients drop at once and resume with their last ids while events keep flowing."""
    p = ctx.params
    server = ctx.itcook("storm")
    token = register(server)["access_token"]
    lg = ctx.loadgen_for(server, "ws", KINDS["itcook"]["path"], token, max_conns=p.storm_n)
    publisher = _Publisher(server, p.storm_rate)
    out: dict[str, Any] = {"clients": p.storm_n, "events_per_s": p.storm_rate,
                           "handshakes_in_flight": p.storm_inflight}
    try:
        con = lg.connect(p.storm_n)
        out["connected"] = con["open"]
        if con["open"] < p.storm_n:  # the server cannot hold them: a finding, reported as such
            out["limit"] = (f"only {con['open']:,} of {p.storm_n:,} clients could connect "
                            f"({con['error'] or 'handshake timed out'})")
            return out
        server.wait_subscribers(int(con["open"]))
        lg.arm(1, 30)
        publisher.start()
        first = lg.result()  # every client has an event id to resume from
        if first["missing"]:
            raise BenchError(f"{first['missing']} clients got no event before the storm")
        gc_before, cpu_before = sum(server.ready()["gc_seconds"]), server.cpu()
        result = lg.storm(p.storm_inflight, p.storm_timeout)
        storm_cpu, gc_seconds = server.cpu() - cpu_before, sum(server.ready()["gc_seconds"]) - gc_before
        time.sleep(1.0)
        publisher.stopping.set()
        publisher.join(60)
        if publisher.error:
            raise BenchError(f"publishing during the storm failed: {publisher.error}")
        check = lg.verify(publisher.last_seq, 60)
    finally:
        publisher.stopping.set()
        lg.quit()
        server.stop()
    out.update({
        "resumed": result["resumed"], "seconds": round(result["elapsed_s"], 3),
        "replayed_events": result["replayed"], "reconnect_retries": result["retries"],
        "failures": result["failures"], "events_published": publisher.last_seq,
        "behind_at_end": check["behind"], "gaps": check["gaps"], "duplicates": check["dups"],
        "loadgen_cpu_s": result["cpu_s"], "server_cpu_s": round(storm_cpu, 2),
        # Of the server's CPU during the storm, the garbage collector's share (~90 tracked
        # objects per connection: a full collection walks about a million at 10k).
        "server_gc_s": round(gc_seconds, 2), "error": result["error"] or check["error"],
    })
    # Lost: a resumed client that missed or repeated an event, or never caught up. A client the
    # server did not take back within the time bound is a missed target, reported apart.
    unresumed = p.storm_n - int(result["resumed"])
    # A resume answered recovered:false (the server could not replay) lost what it missed.
    out["unrecovered"] = result["unrecovered"]
    out["lost"] = (check["gaps"] + check["dups"] + result["unrecovered"]
                   + max(0, check["behind"] - unresumed))
    if unresumed:
        out["limit"] = f"{unresumed:,} clients not resumed within {p.storm_timeout:.0f} s"
    return out


# -- the event log -----------------------------------------------------------------------------
def _log_layout(p: Params) -> tuple[int, int, int, int]:
    """(spacing, resume id, resume seq, last seq): every spacing-th row is on ``system``."""
    spacing = max(1, p.log_rows // (10 * p.replay_missed))
    last_seq = p.log_rows // spacing
    resume_seq = last_seq - p.replay_missed
    return spacing, resume_seq * spacing, resume_seq, last_seq


def _build_sqlite_log(path: str, p: Params) -> None:
    import sqlite3

    spacing = _log_layout(p)[0]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ts = now.isoformat(timespec="milliseconds") + "Z"
    con = sqlite3.connect(path)
    try:
        con.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
            "INSERT INTO realtime_events (id, type, channel, data, ts, created_at) "
            "SELECT x, CASE WHEN x % ?2 = 0 THEN 'SystemNotification' ELSE 'NewFollower' END, "
            "CASE WHEN x % ?2 = 0 THEN 'system' ELSE 'user:' || (2 + x % 5000) END, "
            "CASE WHEN x % ?2 = 0 THEN '{\"title\":\"bench\",\"message\":\"' || ?3 || "
            "'\",\"level\":\"info\",\"seq\":' || (x / ?2) || '}' "
            "ELSE '{\"follower_id\":' || (x % 5000) || ',\"follower_name\":\"someone\"}' END, ?4, ?5 FROM c",
            (p.log_rows, spacing, PAD, ts, now.isoformat(sep=" ")))
        con.commit()
    finally:
        con.close()


def _pg_database(name: str) -> str:
    """A fresh PostgreSQL database ``name`` (dropped first); its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop_pg_database(name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except psycopg.Error:
        pass


def _build_pg_log(url: str, p: Params) -> None:
    import psycopg

    spacing = _log_layout(p)[0]
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as con:
        con.execute(
            "INSERT INTO realtime_events (id, type, channel, data, ts, created_at) "
            "SELECT x, CASE WHEN mod(x, %(s)s) = 0 THEN 'SystemNotification' ELSE 'NewFollower' END, "
            "CASE WHEN mod(x, %(s)s) = 0 THEN 'system' ELSE 'user:' || (2 + mod(x, 5000)) END, "
            "(CASE WHEN mod(x, %(s)s) = 0 THEN '{\"title\":\"bench\",\"message\":\"' || %(pad)s || "
            "'\",\"level\":\"info\",\"seq\":' || (x / %(s)s) || '}' "
            "ELSE '{\"follower_id\":' || mod(x, 5000) || ',\"follower_name\":\"someone\"}' END)::json, "
            "to_char(now() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
            "now() at time zone 'utc' FROM generate_series(1, %(n)s::bigint) AS x",
            {"s": spacing, "pad": PAD, "n": p.log_rows})
        con.execute("SELECT setval(pg_get_serial_sequence('realtime_events', 'id'), %(n)s)",
                    {"n": p.log_rows})
        con.execute("ANALYZE realtime_events")


def replay(ctx: Context, database: str) -> dict[str, Any]:
    """Resume 1k missed events from a log of 1M rows, on SQLite or PostgreSQL."""
    p = ctx.params
    pg_name = "itcook_bench_replay"
    if database == "postgresql":
        if not reachable("127.0.0.1", 5432):
            return {"skipped": "PostgreSQL is not reachable at 127.0.0.1:5432"}
        url = _pg_database(pg_name)
    else:
        url = ctx.sqlite_url("replay")
    spacing, resume_id, resume_seq, last_seq = _log_layout(p)
    out: dict[str, Any] = {"database": database, "log_rows": p.log_rows, "missed": p.replay_missed,
                           "rows_after_resume_point": p.log_rows - resume_id}
    try:
        migrate(url)
        started = time.monotonic()
        if database == "postgresql":
            _build_pg_log(url, p)
        else:
            _build_sqlite_log(url.removeprefix("sqlite:///"), p)
        out["build_s"] = round(time.monotonic() - started, 2)
        server = ctx.itcook(f"replay-{database}", database_url=url, migrate_db=False)
        token = register(server)["access_token"]
        lg = ctx.loadgen_for(server, "ws", KINDS["itcook"]["path"], token, max_conns=1)
        try:
            lg.connect(1)
            server.wait_subscribers(1)
            out["reconnect_ms"] = _resumes(lg, p.log_rows, last_seq, 0, p.replay_reps)
            out["runs_ms"] = _resumes(lg, resume_id, resume_seq, p.replay_missed, p.replay_reps)
        finally:
            lg.quit()
            server.stop()
    finally:
        if database == "postgresql":
            _drop_pg_database(pg_name)
    out["median_ms"] = round(median(out["runs_ms"]), 3)
    out["max_ms"] = round(max(out["runs_ms"]), 3)
    out["reconnect_median_ms"] = round(median(out["reconnect_ms"]), 3)
    out["lost"] = 0
    return out


def _resumes(lg: LoadGen, event_id: int, seq: int, expected: int, reps: int) -> list[float]:
    """Reconnect ``reps`` times from ``event_id``; every run must replay ``expected`` events in order."""
    times = []
    for _ in range(reps):
        lg.setid(event_id, seq)
        result = lg.storm(1, 60)
        if result["resumed"] != 1 or result["replayed"] != expected or result["gaps"] or result["dups"]:
            raise BenchError(f"resume from id {event_id} replayed {result['replayed']} of {expected} "
                             f"(gaps {result['gaps']}, duplicates {result['dups']}): {result['error']}")
        times.append(round(result["elapsed_s"] * 1000, 3))
    return times


# -- scale-out ---------------------------------------------------------------------------------
def redis_two_processes(ctx: Context) -> dict[str, Any]:
    """Sustained fan-out through the Redis broker: one process, then two on two cores."""
    p = ctx.params
    if not (ROOT / "itcook" / "realtime" / "brokers" / "redis.py").exists():
        return {"skipped": "itcook/realtime/brokers/redis.py does not exist yet"}
    if not reachable("127.0.0.1", 6379):
        return {"skipped": "Redis is not reachable at 127.0.0.1:6379"}
    if not reachable("127.0.0.1", 5432):
        return {"skipped": "the Redis broker needs PostgreSQL, not reachable at 127.0.0.1:5432"}
    pg_name = "itcook_bench_redis"
    url = _pg_database(pg_name)
    import os

    extra = {"ITCOOK_BROKER_URL": REDIS_URL, "ITCOOK_BROKER_PREFIX": f"itcook-bench-{os.getpid()}"}
    all_cpus = ALL_CPUS  # not this process's affinity: run.py pinned it to the client cores
    out: dict[str, Any] = {"clients": p.redis_n, "events": p.redis_events,
                           "note": "two servers take both cores: the load generator shares them"}
    servers: list[Server] = []
    gens: list[LoadGen] = []
    try:
        a = ctx.itcook("redis-a", database_url=url, cpus={all_cpus[0]}, **extra)
        servers.append(a)
        token = register(a)["access_token"]
        gen = ctx.loadgen_for(a, "ws", KINDS["itcook"]["path"], token, max_conns=p.redis_n)
        gens.append(gen)
        gen.connect(p.redis_n)
        a.wait_subscribers(p.redis_n)
        one = _sustained_many(a, [(a, gen)], p)
        out["one_process_deliveries_per_s"] = one["deliveries_per_s"]
        gen.quit()
        gens.clear()
        _drain(a)
        b = ctx.itcook("redis-b", database_url=url, cpus={all_cpus[-1]}, migrate_db=False, **extra)
        servers.append(b)
        half = p.redis_n // 2
        for server, count in ((a, half), (b, p.redis_n - half)):
            g = ctx.loadgen_for(server, "ws", KINDS["itcook"]["path"], token, max_conns=count,
                                cpus=set(all_cpus))
            gens.append(g)
            g.connect(count)
            server.wait_subscribers(count)
        two = _sustained_many(a, list(zip(servers, gens, strict=True)), p)
        out["two_processes_deliveries_per_s"] = two["deliveries_per_s"]
        out["ratio"] = round(two["deliveries_per_s"] / max(1, one["deliveries_per_s"]), 2)
        # What two processes could reach with every core of the machine busy at the CPU per
        # delivery they were measured to need, relative to one process: the ratio's ceiling here.
        cores = len(all_cpus)
        ceiling = cores * 1e6 / max(1e-9, two["cpu_us_per_delivery"]["machine"])
        out["ceiling_ratio"] = round(ceiling / max(1, one["deliveries_per_s"]), 2)
        out["lost"] = one["lost"] + two["lost"]
        out["runs"] = {"one": one, "two": two}
    finally:
        for g in gens:
            g.quit()
        for server in servers:
            server.stop()
        _drop_pg_database(pg_name)
    return out


def _machine_busy() -> float:
    """CPU seconds the run's cores have spent working so far (not idle, waiting on I/O, or
    stolen by the hypervisor; guest time is already inside user time)."""
    return float(sum(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
                     for cpu, t in enumerate(psutil.cpu_times(percpu=True)) if cpu in ALL_CPUS))


def _sustained_many(publisher: Server, pairs: list[tuple[Server, LoadGen]], p: Params) -> dict[str, Any]:
    """Back-to-back events published on one server, received through every (server, clients) pair.

    Besides the rate, where the CPU went per delivery (servers, load generators, everything else
    on the machine: Redis, PostgreSQL) and how many cores were busy: with both cores busy, more
    processes cannot deliver more, and cores / CPU per delivery bounds the rate.
    """
    rates, lost, busy, spent = [], 0, [], {"servers": 0.0, "loadgens": 0.0, "machine": 0.0}
    deliveries_all = 0
    for _ in range(p.sustained_reps):
        for _, gen in pairs:
            gen.arm(p.redis_events, 120)
        cpu0 = ([s.cpu() for s, _ in pairs], [g.cpu() for _, g in pairs], _machine_busy())
        t0 = time.monotonic_ns()
        publisher.publish(p.redis_events)
        results = [gen.result() for _, gen in pairs]
        wall = (time.monotonic_ns() - t0) / 1e9
        machine = _machine_busy() - cpu0[2]
        spent["servers"] += sum(s.cpu() for s, _ in pairs) - sum(cpu0[0])
        spent["loadgens"] += sum(g.cpu() for _, g in pairs) - sum(cpu0[1])
        spent["machine"] += machine
        busy.append(machine / wall)
        last = max(r["last_ns"] for r in results)
        deliveries = sum(int(r["frames"]) for r in results)
        deliveries_all += deliveries
        lost += sum(int(r["missing"]) + int(r["gaps"]) + int(r["dups"]) for r in results)
        rates.append(deliveries / ((last - t0) / 1e9) if last else 0.0)
        time.sleep(0.3)
    per = {k: round(1e6 * v / max(1, deliveries_all), 3) for k, v in spent.items()}
    per["other"] = round(per["machine"] - per["servers"] - per["loadgens"], 3)
    return {"deliveries_per_s": round(median(rates)), "runs": [round(r) for r in rates], "lost": lost,
            "machine_busy_cores": round(median(busy), 2), "cpu_us_per_delivery": per}


class _LoginFlood(threading.Thread):
    """One client looping on failed logins (a new unknown username each time) until stopped."""

    def __init__(self, port: int, name: str) -> None:
        super().__init__(daemon=True)
        self.port, self.name_prefix = port, name
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            i = 0
            while not self.stop.is_set():
                status, _ = request(self.port, "POST", "/api/v1/auth/login", conn=conn,
                                    body={"username": f"{self.name_prefix}-{i}", "password": "wrong-pass-1"})
                self.statuses[status] = self.statuses.get(status, 0) + 1
                i += 1
        finally:
            conn.close()


def _timed_samples(server: Server, lg: LoadGen, token: str, samples: int) -> dict[str, Any]:
    """Authenticated GET /auth/me and one WebSocket delivery, timed alternately."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    rest: list[float] = []
    deliveries: list[float] = []
    lost = 0
    try:
        for i in range(5 + samples):
            t0 = time.monotonic_ns()
            status, _ = request(server.port, "GET", "/api/v1/auth/me", token=token, conn=conn)
            took = (time.monotonic_ns() - t0) / 1e6
            if status != 200:
                raise BenchError(f"GET /auth/me answered {status}")
            run = fan_out_once(server, lg, timeout=30)
            lost += run["lost"]
            if i >= 5:  # warm-up
                rest.append(took)
                deliveries.append(run["last_ms"])
    finally:
        conn.close()
    rest.sort()
    deliveries.sort()
    return {"rest_p50_ms": round(percentile(rest, 50), 2), "rest_p99_ms": round(percentile(rest, 99), 2),
            "rest_max_ms": round(rest[-1], 2), "ws_p50_ms": round(percentile(deliveries, 50), 2),
            "ws_p99_ms": round(percentile(deliveries, 99), 2), "ws_max_ms": round(deliveries[-1], 2),
            "lost": lost}


def login_flood(ctx: Context) -> dict[str, Any]:
    """REST and WebSocket latency of one user, idle and while clients loop on failed logins.

    Password hashing at its production cost (the ARGON2_* defaults): each failed login is one
    argon2id verification. The flood uses a new username each time and the per-address limit is
    raised (as for every benchmark), so no login is refused before it is hashed: this measures
    what hashing does to the rest of the process, not the throttle.
    """
    from itcook.config import SETTINGS

    p = ctx.params
    cost = {f"ITCOOK_{s.key}": str(s.default) for s in SETTINGS if s.key.startswith("ARGON2_")}
    server = ctx.itcook("login-flood", **cost)
    floods = [_LoginFlood(server.port, f"flood{i}") for i in range(p.flood_clients)]
    lg = None
    try:
        token = register(server)["access_token"]
        lg = ctx.loadgen_for(server, "ws", KINDS["itcook"]["path"], token, max_conns=1)
        lg.connect(1)
        server.wait_subscribers(1)
        idle = _timed_samples(server, lg, token, p.flood_samples)
        for flood in floods:
            flood.start()
        started = time.monotonic()
        flooded = _timed_samples(server, lg, token, p.flood_samples)
        seconds = time.monotonic() - started
    finally:
        for flood in floods:
            flood.stop.set()
        for flood in floods:
            flood.join(timeout=30)
        if lg is not None:
            lg.quit()
        server.stop()
    statuses: dict[int, int] = {}
    for flood in floods:
        for status, n in flood.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return {"clients": p.flood_clients, "samples": p.flood_samples, "idle": idle, "flood": flooded,
            "failed_logins_per_s": round(statuses.get(401, 0) / seconds, 1),
            "login_statuses": {str(k): v for k, v in sorted(statuses.items())},
            "lost": idle["lost"] + flooded["lost"]}


SCENARIOS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "fanout_itcook": lambda ctx: fanout(ctx, "itcook"),
    "fanout_socketio": lambda ctx: fanout(ctx, "socketio"),
    "fanout_raw": lambda ctx: fanout(ctx, "raw"),
    "sse": lambda ctx: fanout(ctx, "itcook_sse"),
    "e2e": e2e,
    "storm": storm,
    "replay_sqlite": lambda ctx: replay(ctx, "sqlite"),
    "replay_postgresql": lambda ctx: replay(ctx, "postgresql"),
    "redis": redis_two_processes,
    "heartbeats": heartbeats,
    "paired": paired,
    "paired_sse": lambda ctx: paired(ctx, "sse"),
    "login_flood": login_flood,
    "nearby_sqlite": lambda ctx: nearby(ctx, "sqlite"),
    "nearby_postgresql": lambda ctx: nearby(ctx, "postgresql"),
    "plans": plans,
    "calls": calls,
    "calls_browser": calls_browser,
    "live_reactions": live_reactions,
    "live_chat": live_chat,
}
