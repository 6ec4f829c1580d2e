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
from itcook.realtime.outbox import Outbox, stage
from itcook.realtime.presence import TypingTracker
from itcook.realtime.recent import RecentEvents
from itcook.realtime.relay import Unsent
from itcook.realtime.sequencer import Sequencer
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
#: Handles a client frame of a type the app registered: (principal, connection, the frame).
FrameHandler = Callable[[Principal, Connection, dict[str, Any]], None]
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


def _open_transaction(app: Flask) -> Any:
    """``app``'s ``db.session`` in the current app context if it is inside a transaction."""
    if not has_app_context() or current_app._get_current_object() is not app:  # type: ignore[attr-defined]
        return None
    from itcook.extensions import db

    if not db.session.registry.has():  # no session yet: not one made just to ask
        return None
    session = db.session()
    return session if session.in_transaction() else None


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
        # Typing is ephemeral and never part of a transaction: straight to the broker.
        self.typing = TypingTracker(self.publish_now, config["typing_throttle"],
                                    config["typing_timeout"])
        self.principal_loader: PrincipalLoader = lambda user_id: None
        #: Which of some user ids are still active, in one query (set by the app; the default
        #: asks ``principal_loader`` once per id).
        self.active_users: ActiveUsers = lambda ids: {i for i in ids if self.principal_loader(i)}
        self.verified_tokens = VerifiedTokens()  # checked JWTs: a reconnect skips the signature check
        #: Called in the domain's transaction as a durable event is written in it (bridge.py).
        self.on_logged: Callable[[Event], None] | None = None
        #: Called once a durable event went to the broker, after its commit (bridge.py sets it).
        self.after_publish: Callable[[Event], None] | None = None
        self.authorizers: dict[str, tuple[Authorizer, str]] = {}
        #: Client frame types the app handles (``Realtime.register_frame``).
        self.frame_handlers: dict[str, FrameHandler] = {}
        #: Called with each WebSocket connection that ended (what it held must go with it).
        self.disconnect_hooks: list[Callable[[Connection], None]] = []
        self._history: History | None = None
        self._outbox: Outbox | None = None
        self._tickets: Tickets | None = None
        self._counts: EventCounts | None = None
        self._queue: gevent.queue.Queue[Event] = gevent.queue.Queue()
        # Between the broker and the dispatcher: durable events in id order, each once, holes
        # filled from the log (the log is the truth, the broker a doorbell).
        self.sequencer = Sequencer(self._queue.put,
                                   lambda first, last, limit: self.history.between(first, last, limit),
                                   lambda: self.history.newest(), gap_wait=config["gap_wait"],
                                   batch=config["replay_batch"])
        self.unsent = Unsent()  # logged, but the broker publish failed: published again on reconnect
        # Most events the dispatcher takes off its queue at once (see Hub.fanout_run).
        self.dispatch_batch = max(1, int(config["dispatch_batch"]))
        self._greenlets: list[gevent.Greenlet] = []
        self._sequencing: gevent.Greenlet | None = None
        self._flusher: gevent.Greenlet | None = None
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
            self._history = History(self._engine(), self.tables["events"])
        return self._history

    @property
    def counts(self) -> EventCounts:
        if self._counts is None:
            self._counts = EventCounts(self._engine(), self.tables["events"], self.tables["days"])
        return self._counts

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = Outbox(self._engine(), self.tables["events"], self.tables["outbox"])
        return self._outbox

    @property
    def tickets(self) -> Tickets:
        if self._tickets is None:
            self._tickets = Tickets(self._engine(), self.tables["tickets"], self.config["ticket_ttl"])
        return self._tickets

    def ensure_started(self) -> None:
        """Start the broker subscription, the dispatcher and the ticker (once)."""
        if self._greenlets:
            return
        self._sequencing = gevent.spawn(self.sequencer.run)
        self._greenlets = [gevent.spawn(self._dispatch_loop), gevent.spawn(self._tick_loop),
                           self._sequencing]
        if self.config["principal_recheck_interval"] > 0:
            self._greenlets.append(gevent.spawn(self._recheck_loop))
        self.outbox.stopping = False
        self._flusher = gevent.spawn(self.outbox.flush_loop, self.config["outbox_flush_delay"])
        self.broker.start(self.sequencer.offer, self.resync)

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
        if self._sequencing is not None:
            # It may be in a query: killed there, psycopg would turn the kill into an error (the
            # greenlet lives on) and leave its pooled connection mid-statement.
            self.sequencer.stop()
            self._sequencing.join(timeout=5)
            self._sequencing = None
        gevent.killall(self._greenlets, block=True, timeout=5)
        self._greenlets = []
        if self._flusher is not None:
            # Its last flush takes the published ids out (else the relay publishes them again).
            self.outbox.stop()
            self._flusher.join(timeout=5)
            self._flusher.kill(block=True, timeout=1)
            self._flusher = None
        self.broker.stop()

    # -- publishing -------------------------------------------------------------------------
    def publish_event(self, event: Event) -> Event:
        """Publish ``event``: inside the caller's transaction, with it (durable ones are written
        in it, and go out after its commit); outside one, at once (durable ones logged first)."""
        self.ensure_started()
        session = _open_transaction(self.app)
        if session is not None:
            self._log(session, event)
        elif event.durable:
            from itcook.extensions import db

            with self.app.app_context():  # a transaction (and a session) of its own
                self._log(db.session(), event)
                db.session.commit()
        else:
            self.hand_over([event])
        return event

    def publish_now(self, event: Event) -> Event:
        """Hand a non-durable event to the broker at once, whatever transaction is open."""
        self.ensure_started()
        self.hand_over([event])
        return event

    def _log(self, session: Any, event: Event) -> None:
        """Write ``event`` in ``session``'s transaction if durable; publish it after the commit."""
        if event.durable:
            self.outbox.write(session, event)
            if self.on_logged is not None:
                self.on_logged(event)  # the app's own rows of it (the inbox), in the transaction
        stage(session, self, event)

    def hand_over(self, events: list[Event]) -> None:
        """Give committed events to the broker, in order; never waits on fan-out."""
        published = []
        for event in events:
            if event.type == DISCONNECT_USER:
                # Here at once, whatever the broker's state; other processes that miss the
                # message find the user revoked at their next principal recheck.
                self._disconnect_here(event)
            if self.broker.publish(event) is False:
                if event.id is not None:
                    self.unsent.note(event)  # published again on reconnect (and by the relay)
            elif event.id is not None:
                published.append(event)
        if published:
            self.counts.dirty = True
            self.outbox.published(e.id for e in published if e.id is not None)
            self._after_publish(published)

    def relay(self) -> int:
        """Publish what is logged but was not published (its process died first); return count."""
        self.ensure_started()
        events = self.outbox.relay(self.broker.publish, self.config["outbox_grace"])
        if events:
            log.warning("realtime: relayed %d logged events their process did not publish "
                        "(ids %s..%s)", len(events), events[0].id, events[-1].id)
            self._after_publish(events)
        return len(events)

    def _after_publish(self, events: list[Event]) -> None:
        if self.after_publish is None:
            return
        for event in events:
            try:
                self.after_publish(event)
            except Exception:  # the event is out; what listens afterwards must not undo that
                log.exception("after-publish hook failed for event %s", event.id)

    def prune(self) -> int:
        """Apply the retention settings to the log and drop expired tickets; return rows removed."""
        self.tickets.prune()
        self.counts.roll_up()  # before the log forgets them: the per-day table outlives it
        return self.history.prune(self.config["retention_seconds"], self.config["retention_count"])

    def disconnect_user(self, user_id: int, code: int) -> None:
        """Close every connection of ``user_id`` in every process (after the caller's commit)."""
        self.publish_event(Event(type=DISCONNECT_USER, channel=f"user:{user_id}", data={"code": code}))

    def _disconnect_here(self, event: Event) -> None:
        user_id = int(event.channel.split(":", 1)[1])
        for conn in self.hub.user_connections(user_id):
            conn.abort(int(event.data["code"]))

    def revoke(self, channel: str, user_id: int | None = None) -> None:
        """Take ``user_id``'s connections (everyone's when None) off ``channel`` in every process
        (after the caller's commit)."""
        self.publish_event(Event(type=UNSUBSCRIBE, channel=channel, data={"user_id": user_id}))

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
            self._disconnect_here(event)
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
        self.unsent.republish(self.broker.publish)  # what others missed of ours
        self.sequencer.poke()  # what we missed of theirs: the log's tail
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
                "typing_states": len(self.typing), "broker_connected": self.broker.connected,
                "events_from_log": self.sequencer.from_log, "event_ids_skipped": self.sequencer.skipped,
                "events_late": self.sequencer.late}

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
