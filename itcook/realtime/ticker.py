"""The process's clock: heartbeats, SSE keep-alives, the idle sweep, typing expiry, the reports
of statistics, presence and connection counts to the cluster, and the principal recheck.

One greenlet ticks for every connection of the process (not one timer per connection); the
writes go out in slices so that an event published meanwhile does not wait for 10k sockets.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import gevent

from itcook.realtime.connection import WS, Connection
from itcook.realtime.events import CLOSE_IDLE, CLOSE_USER_REVOKED, dumps, utc_ts, ws_frame

if TYPE_CHECKING:
    from itcook.realtime.state import RealtimeState

log = logging.getLogger(__name__)

#: Heartbeats and keep-alives go out this many connections at a time, with a turn of the event
#: loop in between: one to 10k sockets takes ~80 ms here, which an event published meanwhile
#: (or a request, or a handshake) must not wait for.
WRITE_SLICE = 256
#: Users whose state one query of the principal recheck reads (bound parameters stay few).
RECHECK_CHUNK = 500
# A positive pause: ``sleep(0)`` may resume this greenlet before the loop polls the sockets.
SLICE_PAUSE = 0.0005


def write_in_slices(live: set[Connection], ws: bytes, sse: bytes) -> int:
    """Write ``ws`` to each WebSocket and ``sse`` to each SSE stream in ``live`` (empty: none).

    Returns the writes made. A connection that leaves ``live`` during a pause is skipped: its
    session may have written a close frame, after which nothing else may follow.
    """
    written = 0
    for conn in tuple(live):
        data = ws if conn.transport == WS else sse
        if data and conn in live and conn.deliver(data):
            written += 1
            if written % WRITE_SLICE == 0:
                gevent.sleep(SLICE_PAUSE)
    return written


def tick_interval(cfg: dict[str, Any]) -> float:
    """Seconds between two rounds of the ticker (heartbeats, idle checks, presence changes)."""
    return float(max(0.02, min(cfg["heartbeat_interval"], cfg["sse_keepalive_interval"],
                               cfg["idle_timeout"] / 4, cfg["typing_timeout"] / 4, 1.0)))


def tick_loop(state: RealtimeState) -> None:
    """Heartbeats, SSE keep-alives, idle cleanup and typing expiry for the whole process."""
    cfg = state.config
    beat_every, keepalive_every = cfg["heartbeat_interval"], cfg["sse_keepalive_interval"]
    idle = cfg["idle_timeout"]
    tick = tick_interval(cfg)
    next_beat = time.monotonic() + beat_every
    next_keepalive = time.monotonic() + keepalive_every
    report_every = cfg["stats_interval"]
    shared = state.cluster.shared  # one process: no counts to share
    next_report = time.monotonic()
    hub = state.hub
    while True:
        gevent.sleep(tick)
        now = time.monotonic()
        try:
            beat = keepalive = b""
            if now >= next_beat:
                next_beat = now + beat_every
                ts = utc_ts()
                beat = ws_frame(dumps({"type": "Heartbeat", "ts": ts, "data": {"ts": ts}}))
            if now >= next_keepalive:
                next_keepalive = now + keepalive_every
                keepalive = b": keep-alive\n\n"
            if beat or keepalive:
                write_in_slices(hub.connections, beat, keepalive)
                now = time.monotonic()  # the slices took a while: judge idleness afresh
            for conn in hub.idle(now, idle):
                conn.abort(CLOSE_IDLE)
            state.typing.expire(now)
            report = now >= next_report
            if report:
                next_report = now + report_every
            _report(state, report, shared, report_every)
        except Exception:
            log.exception("realtime ticker failed")


def _report(state: RealtimeState, report: bool, shared: bool, report_every: float) -> None:
    """Tell the cluster this process's statistics (every report), presence and cap counts."""
    hub, cluster, ttl = state.hub, state.cluster, state.presence_ttl
    if report:
        # Three missed reports (and at least 2 s: a busy host) and a process drops out.
        cluster.share_stats(state.process_id, state.snapshot(), max(3 * report_every, 2.0))
    if report or hub.presence_changes:
        # Who is connected here, for Web Push: changes each tick, everyone per report.
        changes, hub.presence_changes = hub.presence_changes, {}
        online = list(hub.by_user) if report else [u for u, on in changes.items() if on]
        offline = [u for u, on in changes.items() if not on and u not in hub.by_user]
        cluster.set_presence(state.process_id, online, offline, ttl)
    changed: set[Any] = set()
    if hub.count_changes:  # taken before the report yields: later ones wait a tick
        changed, hub.count_changes = hub.count_changes, set()
    if shared and (report or changed):
        # What this process holds of each user's connection cap (every process's admissions
        # add them up): changes each tick, everyone per report.
        users = (set(hub.by_user) | set(hub.admitting) if report else set()) | changed
        cluster.report_connections(state.process_id, {
            u: hub.user_connection_count(u) + hub.admitting[u] for u in users}, ttl)


def recheck_principals(state: RealtimeState) -> int:
    """Close (4003) every local connection whose user is no longer active, or whose session
    ended since it connected (disabled and enabled again); return how many.

    The user's state is durable in the database: this is what makes a disable or deletion
    reach a process that missed the broker's message. One query per ``RECHECK_CHUNK`` users.
    """
    conns = [c for c in state.hub.connections if not c.closed]
    # In order (ints and strings apart): a chunk names each user once, as an index scan likes.
    ids = sorted({c.user_id for c in conns}, key=lambda i: (type(i).__name__, i))
    active: dict[Any, str | None] = {}
    for start in range(0, len(ids), RECHECK_CHUNK):
        chunk = ids[start:start + RECHECK_CHUNK]
        with state.app.app_context():
            active.update(state.active_users(chunk))
        gevent.sleep(SLICE_PAUSE)  # a handshake or a fan-out must not wait for 10k users
    closed = 0
    for conn in conns:
        revoked = conn.user_id not in active or (
            conn.session is not None and active[conn.user_id] != conn.session)
        if revoked and not conn.closed:
            conn.abort(CLOSE_USER_REVOKED)
            closed += 1
            if closed % WRITE_SLICE == 0:
                gevent.sleep(SLICE_PAUSE)
    return closed


def recheck_loop(state: RealtimeState) -> None:
    """Every ``principal_recheck_interval`` seconds: ``recheck_principals``."""
    every = state.config["principal_recheck_interval"]
    while True:
        gevent.sleep(every)
        try:
            closed = recheck_principals(state)
            if closed:
                log.warning("realtime: closed %d connections of revoked users", closed)
        except Exception:  # the database may be down: keep the streams, try next round
            log.exception("realtime: principal recheck failed")
