"""Calls: the relay latency of one Signal frame, from the sender's socket to the addressee's.

Embedded (one process, in-process broker, SQLite): a candidate and an SDP offer relayed between
two participants, each paired with a WebSocket ping/pong on the sender's connection in the same
round (the floor of any frame in and out of the server). Scale-out (two processes, Redis,
PostgreSQL): the addressee has a connection on the sender's process and one on the other, so
each Signal measures both at once; the ratio is cross-process over same-process.

The clients run here, one reader thread per receiving connection; the sender's rate limit is
lifted (``ITCOOK_REALTIME_RATE``), since the relay and not the bucket is measured.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from bench.harness import BenchError, median, percentile, register, request
from tests.support.calls import signal
from tests.support.servers import reachable
from tests.support.ws import Client, ws_connect

SAMPLES, WARM = 300, 30
CANDIDATE = {"candidate": "candidate:842163049 1 udp 1677729535 192.0.2.7 61327 typ srflx raddr "
                          "10.0.0.7 rport 61327 generation 0 ufrag 4ZcD network-cost 999",
             "sdpMid": "0", "sdpMLineIndex": 0}
#: About 6 KB, as a browser's offer with audio, video and its host candidates.
OFFER = {"type": "offer",
         "sdp": "v=0\r\n" + "a=candidate:1 1 udp 2113937151 10.0.0.7 5000 typ host\r\n" * 110}
UNLIMITED = {"ITCOOK_REALTIME_RATE": "1000000", "ITCOOK_REALTIME_BURST": "1000000"}


class _Arrivals(threading.Thread):
    """Reads Signal frames of one connection; the arrival time of each, by its ``n``."""

    def __init__(self, client: Client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.times: dict[int, int] = {}
        self.cond = threading.Condition()
        self.failed: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                frame = self.client.recv_type("Signal", timeout=60)
                now = time.monotonic_ns()
                with self.cond:
                    self.times[int(frame["data"]["data"]["n"])] = now
                    self.cond.notify_all()
        except BaseException as exc:  # the socket closed at the end, or a failure to report
            self.failed = exc

    def wait(self, n: int, timeout: float = 10.0) -> int:
        with self.cond:
            if not self.cond.wait_for(lambda: n in self.times, timeout):
                raise BenchError(f"Signal {n} did not arrive within {timeout} s ({self.failed!r})")
            return self.times.pop(n)


def _call(port: int, server: Any, names: tuple[str, str]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    anna, boris = (register(server, name) for name in names)
    status, group = request(port, "POST", "/api/v1/groups", {"name": "Bench kitchen", "open": True},
                            anna["access_token"])
    if status != 201:
        raise BenchError(f"POST /groups answered {status}: {group}")
    request(port, "POST", f"/api/v1/groups/{group['id']}/join", token=boris["access_token"])
    status, call = request(port, "POST", f"/api/v1/groups/{group['id']}/calls", token=anna["access_token"])
    if status != 201:
        raise BenchError(f"POST /groups/<id>/calls answered {status}: {call}")
    status, joined = request(port, "POST", f"/api/v1/calls/{call['id']}/join", token=boris["access_token"])
    if status != 200:
        raise BenchError(f"POST /calls/<id>/join answered {status}: {joined}")
    return int(call["id"]), anna, boris


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(percentile(ordered, 50), 3), "p99_ms": round(percentile(ordered, 99), 3)}


def _relay(sender: Client, call_id: int, to: int, readers: list[_Arrivals], kind: str,
           data: dict[str, Any], ping: bool) -> dict[str, Any]:
    """``SAMPLES`` Signals of ``kind`` with ``data``; per reader the latencies (ms), and the
    ping's if ``ping``."""
    lat: list[list[float]] = [[] for _ in readers]
    pings: list[float] = []
    for n in range(WARM + SAMPLES):
        if ping:
            t0 = time.monotonic_ns()
            sender.ping_pong(n.to_bytes(4, "big"), timeout=10)
            if n >= WARM:
                pings.append((time.monotonic_ns() - t0) / 1e6)
        t0 = time.monotonic_ns()
        signal(sender, call_id, to, kind, **data, n=n)
        for i, reader in enumerate(readers):
            arrived = reader.wait(n)
            if n >= WARM:
                lat[i].append((arrived - t0) / 1e6)
    for frame in sender.stash:
        if frame["type"] == "Error":
            raise BenchError(f"the relay refused a Signal: {frame['data']}")
    out: dict[str, Any] = {"readers": [_stats(one) for one in lat]}
    if ping:
        out["ping"] = _stats(pings)
        out["ratio_p50"] = round(median(lat[0]) / max(1e-9, median(pings)), 2)
    out["raw"] = lat
    return out


def _connect(server: Any, token: str) -> Client:
    client = ws_connect(server, token, timeout=30)
    # As browsers do: a small frame after an unacknowledged one must not wait out Nagle's
    # algorithm against the peer's delayed ACK (40 ms), which would be all this measures.
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _embedded(ctx: Any) -> dict[str, Any]:
    server = ctx.itcook("calls", **UNLIMITED)
    clients: list[Client] = []
    try:
        call_id, anna, boris = _call(server.port, server, ("caller", "callee"))
        sender, receiver = _connect(server, anna["access_token"]), _connect(server, boris["access_token"])
        clients += [sender, receiver]
        reader = _Arrivals(receiver)
        reader.start()
        out = {}
        for name, data in (("candidate", CANDIDATE), ("offer", OFFER)):
            run = _relay(sender, call_id, boris["user"]["id"], [reader], name, data, ping=True)
            out[name] = {"relay": run["readers"][0], "ping": run["ping"], "ratio_p50": run["ratio_p50"],
                         "bytes": len(str(data))}
        return out
    finally:
        for client in clients:
            client.close()
        server.stop()


def _scale_out(ctx: Any) -> dict[str, Any]:
    if not (reachable("127.0.0.1", 6379) and reachable("127.0.0.1", 5432)):
        return {"skipped": "needs Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432"}
    from bench.harness import ALL_CPUS, REDIS_URL
    from bench.scenarios import _drop_pg_database, _pg_database

    pg_name = "itcook_bench_calls"
    url = _pg_database(pg_name)
    extra = {"ITCOOK_BROKER_URL": REDIS_URL, "ITCOOK_BROKER_PREFIX": f"itcook-bench-calls-{os.getpid()}",
             **UNLIMITED}
    servers, clients = [], []
    try:
        a = ctx.itcook("calls-a", database_url=url, cpus={ALL_CPUS[0]}, **extra)
        servers.append(a)
        b = ctx.itcook("calls-b", database_url=url, cpus={ALL_CPUS[-1]}, migrate_db=False, **extra)
        servers.append(b)
        call_id, anna, boris = _call(a.port, a, ("caller", "callee"))
        sender = _connect(a, anna["access_token"])
        near, far = _connect(a, boris["access_token"]), _connect(b, boris["access_token"])
        clients += [sender, near, far]
        readers = [_Arrivals(near), _Arrivals(far)]
        for reader in readers:
            reader.start()
        out = {}
        for name, data in (("candidate", CANDIDATE), ("offer", OFFER)):
            run = _relay(sender, call_id, boris["user"]["id"], readers, name, data, ping=False)
            same, cross = run["raw"]
            out[name] = {"same_process": run["readers"][0], "cross_process": run["readers"][1],
                         "ratio_p50": round(median(cross) / max(1e-9, median(same)), 2)}
        return out
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.stop()
        _drop_pg_database(pg_name)


def calls(ctx: Any) -> dict[str, Any]:
    """Signal relay latency p50/p99: embedded (vs ping/pong), then scale-out (cross vs same process)."""
    return {"samples": SAMPLES, "embedded": _embedded(ctx), "scale_out": _scale_out(ctx)}
