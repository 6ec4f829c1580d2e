"""Per-app runtime of the plugin: hub, log, broker, dispatcher and the one ticker greenlet."""

from __future__ import annotations

import logging
import os
import random
import re
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gevent
import gevent.lock
import gevent.queue
from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import SQLAlchemyError

from itcook.realtime.auth import ActiveUsers, Principal, PrincipalLoader, Tickets, VerifiedTokens
from itcook.realtime.brokers import Broker, MemoryBroker, make_broker
from itcook.realtime.connection import SSE, WS, Connection
from itcook.realtime.counts import EventCounts
from itcook.realtime.events import (
    CLOSE_GOING_AWAY,
    CLOSE_IDLE,
    CLOSE_INTERNAL,
    CLOSE_REASONS,
    CLOSE_USER_REVOKED,
    Event,
    ProtocolError,
    dumps,
    sse_going_away,
    utc_ts,
    ws_frame,
)
from itcook.realtime.history import History
from itcook.realtime.hub import Hub
from itcook.realtime.presence import TypingTracker
from itcook.realtime.recent import RecentEvents
from itcook.realtime.stats import merge_snapshots

log = logging.getLogger(__name__)

#: Internal event type: drop every connection of ``user:<id>`` (disabled or deleted user).
DISCONNECT_USER = "_DisconnectUser"
#: Internal event type: take ``data.user_id``'s connections (everyone's if None) off ``channel``.
UNSUBSCRIBE = "_Unsubscribe"
#: Internal event type: empty the window of recent events (logged events were purged).
FORGET_RECENT = "_ForgetRecent"
_INTERNAL = (DISCONNECT_USER, UNSUBSCRIBE, FORGET_RECENT)
DEFAULT_CHANNELS = ("personal", "community", "system")
# ASCII digits only (\d would take other scripts' digits) and fullmatch (``$`` allows a "\n").
_SCOPED = re.compile(r"([a-z]+):([0-9]{1,19})")
_MAX_ID = 2**63 - 1  # the widest id column: a larger id names nothing

Authorizer = Callable[[int, int], bool]
T = TypeVar("T")

#: Heartbeats and keep-alives go out this many connections at a time, with a turn of the event
#: loop in between: one to 10k sockets takes ~80 ms here, which an event published meanwhile
#: (or a request, or a handshake) must not wait for.
WRITE_SLICE = 256
#: Users whose state one query of the principal recheck reads (bound parameters stay few).
RECHECK_CHUNK = 500
# A positive pause: ``sleep(0)`` may resume this greenlet before the loop polls the sockets.
_SLICE_PAUSE = 0.0005


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
                gevent.sleep(_SLICE_PAUSE)
    return written


def _runs(batch: list[Event]) -> list[list[Event]]:
    """Split ``batch`` into runs of consecutive events of one channel; internal ones alone."""
    runs: list[list[Event]] = []
    for event in batch:
        last = runs[-1][-1] if runs else None
        if (last is None or event.channel != last.channel
                or event.type in _INTERNAL or last.type in _INTERNAL):
            runs.append([event])
        else:
            runs[-1].append(event)
    return runs


def _tick_interval(cfg: dict[str, Any]) -> float:
    """Seconds between two rounds of the ticker (heartbeats, idle checks, presence changes)."""
    return float(max(0.02, min(cfg["heartbeat_interval"], cfg["sse_keepalive_interval"],
                               cfg["idle_timeout"] / 4, cfg["typing_timeout"] / 4, 1.0)))


class RealtimeState:
    """Everything the plugin keeps for one app; ``app.extensions["realtime"]``."""

    def __init__(self, app: Flask, config: dict[str, Any], tables: dict[str, Any]) -> None:
        self.app = app
        self.config = config
        self.tables = tables
        # The window never reaches past what the log's retention keeps: a resume answers the
        # same whichever process (with or without the window) takes it.
        window = min(config["replay_cache"], config["retention_count"] or config["replay_cache"])
        self.hub = Hub(config["replay_buffer"], RecentEvents(window, config["retention_seconds"]))
        self.broker: Broker = make_broker(config["broker_url"], config["broker_prefix"])
        # Unique per process (and per app in one process): the key of its statistics report.
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # Highest durable id this process has fanned out: the resync point after an outage.
        self.last_dispatched_id = 0
        self.resyncs = 0  # broker outages caught up so far
        self.closing = False  # set by shutdown: admission refuses new streams (503)
        self.typing = TypingTracker(self.publish_event, config["typing_throttle"],
                                    config["typing_timeout"])
        self.principal_loader: PrincipalLoader = lambda user_id: None
        #: Which of some user ids are still active, in one query (set by the app; the default
        #: asks ``principal_loader`` once per id).
        self.active_users: ActiveUsers = lambda ids: {i for i in ids if self.principal_loader(i)}
        self.verified_tokens = VerifiedTokens()  # checked JWTs: a reconnect skips the signature check
        #: Called in the publishing greenlet once a durable event is logged (bridge.py sets it).
        self.after_publish: Callable[[Event], None] | None = None
        self.authorizers: dict[str, tuple[Authorizer, str]] = {}
        self._history: History | None = None
        self._tickets: Tickets | None = None
        self._counts: EventCounts | None = None
        # Ids are taken and events handed to the broker under one lock, so this process
        # publishes in id order (a resume point never skips a lower id still in flight).
        self._publish_lock = gevent.lock.Semaphore()
        self._queue: gevent.queue.Queue[Event] = gevent.queue.Queue()
        # Most events the dispatcher takes off its queue at once (see Hub.fanout_run).
        self.dispatch_batch = max(1, int(config["dispatch_batch"]))
        self._greenlets: list[gevent.Greenlet] = []
        self.started_at = time.time()
        # Presence and connection counts are refreshed every report, but no sooner than the
        # next tick: they outlive three of either (a dead process's expire by themselves).
        self.presence_ttl = max(3 * config["stats_interval"], 3 * _tick_interval(config), 2.0)

    # -- lazily bound resources -------------------------------------------------------------
    def _engine(self) -> Any:
        from itcook.extensions import db

        with self.app.app_context():
            return db.engine

    @property
    def history(self) -> History:
        if self._history is None:
            self._history = History(self._engine(), self.tables["events"],
                                    cluster_lock=not isinstance(self.broker, MemoryBroker))
        return self._history

    @property
    def counts(self) -> EventCounts:
        if self._counts is None:
            self._counts = EventCounts(self._engine(), self.tables["events"], self.tables["days"])
        return self._counts

    @property
    def tickets(self) -> Tickets:
        if self._tickets is None:
            self._tickets = Tickets(self._engine(), self.tables["tickets"], self.config["ticket_ttl"])
        return self._tickets

    def ensure_started(self) -> None:
        """Start the broker subscription, the dispatcher and the ticker (once)."""
        if self._greenlets:
            return
        self._greenlets = [gevent.spawn(self._dispatch_loop), gevent.spawn(self._tick_loop)]
        if self.config["principal_recheck_interval"] > 0:
            self._greenlets.append(gevent.spawn(self._recheck_loop))
        self.broker.start(self._queue.put, self.resync)

    def close_streams(self) -> None:
        """Close every connection with 1001 and refuse new ones (503): the start of a stop."""
        # Refused from now on: a stream opened later would be one that nothing closes. One
        # admitted just before joins the hub after this and closes itself (``closing``).
        self.closing = True
        for conn in list(self.hub.connections):
            self.going_away(conn)

    def going_away(self, conn: Connection) -> None:
        """Close ``conn`` because this process stops: 1001 on a WebSocket; an SSE stream is
        told to come back soon (a random delay spreads the reconnects) and ends."""
        if conn.transport == SSE and not conn.closed:
            retry = min(self.config["sse_retry_ms"], 1000)
            conn.deliver(sse_going_away(random.randint(retry // 4, retry)))
        conn.abort(CLOSE_GOING_AWAY)

    def shutdown(self) -> None:
        """Close every connection with 1001, refuse new ones, stop the background greenlets."""
        self.close_streams()
        gevent.killall(self._greenlets, block=True, timeout=5)
        self._greenlets = []
        self.broker.stop()

    # -- publishing -------------------------------------------------------------------------
    def publish_event(self, event: Event) -> Event:
        """Store a durable event (id), then hand it to the broker; never waits on fan-out."""
        self.ensure_started()
        with self._publish_lock:
            if event.durable:
                self.history.append(event, then=self.broker.publish)
            else:
                self.broker.publish(event)
        if event.durable:
            self.counts.dirty = True
        if event.durable and self.after_publish is not None:
            try:
                self.after_publish(event)
            except Exception:  # the event is out; what listens afterwards must not undo that
                log.exception("after-publish hook failed for event %s", event.id)
        return event

    def prune(self) -> int:
        """Apply the retention settings to the log and drop expired tickets; return rows removed."""
        self.tickets.prune()
        self.counts.roll_up()  # before the log forgets them: the per-day table outlives it
        return self.history.prune(self.config["retention_seconds"], self.config["retention_count"])

    def disconnect_user(self, user_id: int, code: int) -> None:
        """Close every connection of ``user_id`` in every process."""
        self.ensure_started()
        # Here at once, whatever the broker's state; other processes that miss the message
        # find the user revoked at their next principal recheck (after a resync, or periodic).
        for conn in self.hub.user_connections(user_id):
            conn.abort(code)
        self.broker.publish(Event(type=DISCONNECT_USER, channel=f"user:{user_id}", data={"code": code}))

    def revoke(self, channel: str, user_id: int | None = None) -> None:
        """Take ``user_id``'s connections (everyone's when None) off ``channel`` in every process."""
        self.ensure_started()
        self.broker.publish(Event(type=UNSUBSCRIBE, channel=channel, data={"user_id": user_id}))

    def forget_recent(self) -> None:
        """Empty the window of recent events in every process: resumes read the log again."""
        self.ensure_started()
        self.broker.publish(Event(type=FORGET_RECENT, channel="system", data={}))

    def reserve_connection(self, user_id: int) -> bool:
        """Hold one of ``user_id``'s stream slots, counted over every process; False at the cap.

        The local reservation comes first (simultaneous handshakes here), then the broker's
        atomic check of what the other processes reported (simultaneous ones elsewhere).
        """
        cap = self.config["max_connections_per_user"]
        hub = self.hub
        if not hub.reserve(user_id, cap):
            return False
        held = hub.user_connection_count(user_id) + hub.admitting[user_id] - 1
        if self.broker.claim_connection(self.process_id, user_id, held, cap, self.presence_ttl):
            return True
        hub.release(user_id)
        return False

    def is_user_online(self, user_id: int) -> bool:
        """Whether ``user_id`` holds a live connection here or (as far as the broker knows) anywhere."""
        return bool(self.hub.user_connection_count(user_id)) or self.broker.user_present(user_id)

    def _dispatch_loop(self) -> None:
        queue = self._queue
        while True:
            batch = [queue.get()]
            # Events that queued up behind each other (a burst) go out together: fanout_run.
            while len(batch) < self.dispatch_batch and queue.qsize():
                batch.append(queue.get_nowait())
            for run in _runs(batch):
                try:
                    self._dispatch(run)
                except Exception:
                    if len(run) == 1:  # one bad event must not stop delivery of the next
                        log.exception("fan-out of %s failed", run[0].type)
                        continue
                    for event in run:  # find the bad one; ids keep the others from repeating
                        try:
                            self._dispatch([event])
                        except Exception:
                            log.exception("fan-out of %s failed", event.type)

    def _dispatch(self, run: list[Event]) -> None:
        event = run[0]
        if event.type == DISCONNECT_USER:
            user_id = int(event.channel.split(":", 1)[1])
            for conn in self.hub.user_connections(user_id):
                conn.abort(int(event.data["code"]))
        elif event.type == UNSUBSCRIBE:
            self.hub.revoke(event.channel, event.data.get("user_id"))
        elif event.type == FORGET_RECENT:
            self.hub.recent.reset()
        else:
            self.hub.fanout_run(run)
            newest = max((e.id for e in run if e.id is not None), default=0)
            if newest > self.last_dispatched_id:
                self.last_dispatched_id = newest

    def _tick_loop(self) -> None:
        """Heartbeats, SSE keep-alives, idle cleanup and typing expiry for the whole process."""
        cfg = self.config
        beat_every, keepalive_every = cfg["heartbeat_interval"], cfg["sse_keepalive_interval"]
        idle = cfg["idle_timeout"]
        tick = _tick_interval(cfg)
        next_beat = time.monotonic() + beat_every
        next_keepalive = time.monotonic() + keepalive_every
        report_every = cfg["stats_interval"]
        presence_ttl = self.presence_ttl
        shared = not isinstance(self.broker, MemoryBroker)  # one process: no counts to share
        next_report = time.monotonic()
        hub = self.hub
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
                self.typing.expire(now)
                report = now >= next_report
                if report:
                    next_report = now + report_every
                    # Three missed reports (and at least 2 s: a busy host) and a process drops out.
                    self.broker.share_stats(self.process_id, self.snapshot(), max(3 * report_every, 2.0))
                if report or hub.presence_changes:
                    # Who is connected here, for Web Push: changes each tick, everyone per report.
                    changes, hub.presence_changes = hub.presence_changes, {}
                    online = list(hub.by_user) if report else [u for u, on in changes.items() if on]
                    offline = [u for u, on in changes.items() if not on and u not in hub.by_user]
                    self.broker.set_presence(self.process_id, online, offline, presence_ttl)
                changed: set[int] = set()
                if hub.count_changes:  # taken before the report yields: later ones wait a tick
                    changed, hub.count_changes = hub.count_changes, set()
                if shared and (report or changed):
                    # What this process holds of each user's connection cap (every process's
                    # admissions add them up): changes each tick, everyone per report.
                    users = (set(hub.by_user) | set(hub.admitting) if report else set()) | changed
                    self.broker.report_connections(self.process_id, {
                        u: hub.user_connection_count(u) + hub.admitting[u] for u in users}, presence_ttl)
            except Exception:
                log.exception("realtime ticker failed")

    def recheck_principals(self) -> int:
        """Close (4003) every local connection whose user is no longer active; return how many.

        The user's state is durable in the database: this is what makes a disable or deletion
        reach a process that missed the broker's message. One query per ``RECHECK_CHUNK`` users.
        """
        conns = [c for c in self.hub.connections if not c.closed]
        ids = sorted({c.user_id for c in conns})
        active: set[int] = set()
        for start in range(0, len(ids), RECHECK_CHUNK):
            chunk = ids[start:start + RECHECK_CHUNK]
            with self.app.app_context():
                active |= self.active_users(chunk)
            gevent.sleep(_SLICE_PAUSE)  # a handshake or a fan-out must not wait for 10k users
        closed = 0
        for conn in conns:
            if conn.user_id not in active and not conn.closed:
                conn.abort(CLOSE_USER_REVOKED)
                closed += 1
                if closed % WRITE_SLICE == 0:
                    gevent.sleep(_SLICE_PAUSE)
        return closed

    def _recheck_loop(self) -> None:
        """Every ``principal_recheck_interval`` seconds: ``recheck_principals``."""
        every = self.config["principal_recheck_interval"]
        while True:
            gevent.sleep(every)
            try:
                closed = self.recheck_principals()
                if closed:
                    log.warning("realtime: closed %d connections of revoked users", closed)
            except Exception:  # the database may be down: keep the streams, try next round
                log.exception("realtime: principal recheck failed")

    def _resynced(self, conns: list[Connection]) -> None:
        """After an outage: revoked users first (before anything is replayed), then catch up."""
        from itcook.realtime import resume

        try:
            self.recheck_principals()
        except Exception:
            # Unchecked, a replay could reach a user disabled meanwhile: each resumes by itself.
            log.exception("realtime: principal recheck after a resync failed")
            for conn in conns:
                conn.abort(CLOSE_INTERNAL)
            return
        resume.catch_up_all(self, conns)

    def resync(self) -> None:
        """After a broker outage: bring every local connection up to date from the log.

        Called before the listener reads anything new. Events are handed to the broker in id
        order, so every one this process missed has an id above ``last_dispatched_id``. All
        connections are paused at once (live events wait for them), then each replays.
        """
        floor = self.last_dispatched_id
        self.resyncs += 1  # a replay under way when this happened reads the log again (resume.py)
        self.hub.recent.reset()  # events published during the outage are not in the window
        conns = [c for c in self.hub.connections if not c.closed and c.replay_buffer is None]
        for conn in conns:
            self.hub.pause(conn)
            conn.last_event_id = max(conn.last_event_id, floor)
        self._greenlets.append(gevent.spawn(self._resynced, conns))

    def cluster_snapshot(self) -> dict[str, Any]:
        """This process's statistics merged with every other live process's (via the broker)."""
        mine = self.snapshot()
        others = [s for s in self.broker.gather_stats() if s.get("process_id") != self.process_id]
        merged = merge_snapshots([mine, *others])
        try:
            # Counts of the past come from the log: the same in every process, across restarts.
            merged.update(self.counts.snapshot(), event_counts_source="log")
        except SQLAlchemyError as exc:  # the database is down: the processes' own counts, said so
            log.warning("realtime: cannot read the event counts from the log (%s)", exc)
            merged["event_counts_source"] = "processes"
        return merged

    def snapshot(self) -> dict[str, Any]:
        """This process's statistics, tagged with its id, uptime and broker state."""
        return {**self.hub.snapshot(), "process_id": self.process_id,
                "uptime_seconds": round(time.time() - self.started_at, 3),
                "typing_states": len(self.typing), "broker_connected": self.broker.connected}

    # -- channels ---------------------------------------------------------------------------
    def register_channel(self, prefix: str, authorize: Authorizer, denied_code: str) -> None:
        """Allow ``<prefix>:<id>`` channels for users ``authorize(user_id, id)`` accepts."""
        self.authorizers[prefix] = (authorize, denied_code)

    def resolve_channel(self, principal: Principal, name: str) -> str:
        """Map a client's channel name to the internal key, or raise ``ProtocolError``."""
        if name == "personal":
            return f"user:{principal.user_id}"
        if name in ("community", "system"):
            return name
        match = _SCOPED.fullmatch(name)
        if match is None:
            raise ProtocolError("unknown_channel", f"unknown channel {name[:64]!r}", channel=name[:64])
        prefix, ident = match.group(1), int(match.group(2))
        if prefix in ("personal", "user"):
            if ident != principal.user_id:
                raise ProtocolError("forbidden_channel", "another user's personal channel",
                                    channel=name)
            return f"user:{ident}"
        entry = self.authorizers.get(prefix)
        if entry is None:
            raise ProtocolError("unknown_channel", f"unknown channel {name!r}", channel=name)
        authorize, denied_code = entry
        if ident > _MAX_ID:  # wider than any id column; narrower keys are the authorizer's to bound
            raise ProtocolError(denied_code, f"channel {name!r} is not available", channel=name)
        with self.app.app_context():
            allowed = authorize(principal.user_id, ident)
        if not allowed:
            raise ProtocolError(denied_code, f"channel {name!r} is not available", channel=name)
        return f"{prefix}:{ident}"

    def allowed_channels(self, user_id: int, keys: list[str]) -> list[str]:
        """``keys`` (internal channel keys) minus the scoped ones ``user_id`` may not hold now.

        Redone while revocations land during it (``settled``).
        """
        return self.settled(lambda: [key for key in keys if self._authorized(user_id, key)])

    def settled(self, authorize: Callable[[], T]) -> T:
        """``authorize()``, redone (up to 5 times in all) while revocations land during it.

        Authorizers ask the database (a yield): a revocation processed meanwhile would not find
        a connection that is not on the channel yet, and the answer may predate it.
        """
        epoch = self.hub.revocations
        result = authorize()
        for _ in range(4):
            if self.hub.revocations == epoch:
                break
            epoch = self.hub.revocations
            result = authorize()
        return result

    def _authorized(self, user_id: int, key: str) -> bool:
        prefix, _, ident = key.partition(":")
        entry = self.authorizers.get(prefix)
        if entry is None or not ident.isdigit():
            return True  # personal, community, system: nothing to revoke
        with self.app.app_context():
            return bool(entry[0](user_id, int(ident)))

    def load_principal(self, user_id: int) -> Principal | None:
        """Resolve a user id through the app's loader (active users only)."""
        if has_app_context() and current_app._get_current_object() is self.app:
            # A handshake is already inside this app's context; pushing another costs a
            # third of the lookup itself.
            return self.principal_loader(user_id)
        with self.app.app_context():
            return self.principal_loader(user_id)

    def close_reason(self, code: int | None) -> str:
        """The stats name of a close code."""
        return CLOSE_REASONS.get(code or 0, "connection_lost")
