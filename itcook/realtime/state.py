"""Per-app engine of the plugin: what it holds, its lazily bound resources, start and stop.

What it does is split by concern: ``publishing.py`` (events and control messages out),
``dispatch.py`` (broker messages in, fan-out, resync), ``channels.py`` (the channel registry),
``principals.py`` (users, stream slots, presence); the clock is ``ticker.py``.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.queue
from flask import Flask, current_app, has_app_context
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from itcook.realtime import ticker
from itcook.realtime.auth import (
    ActiveUsers,
    Authenticator,
    Principal,
    PrincipalLoader,
    Tickets,
    VerifiedTokens,
)
from itcook.realtime.brokers import ClusterStore, Transport, open_backend
from itcook.realtime.brokers.base import Message
from itcook.realtime.channels import Authorizer, ChannelRegistry, KeyParser
from itcook.realtime.connection import SSE, Connection
from itcook.realtime.counts import EventCounts
from itcook.realtime.dispatch import Dispatching
from itcook.realtime.events import CLOSE_GOING_AWAY, sse_going_away
from itcook.realtime.history import History
from itcook.realtime.hub import Hub
from itcook.realtime.outbox import Outbox, install_session_hooks
from itcook.realtime.periodic import Periodic
from itcook.realtime.presence import TypingTracker
from itcook.realtime.principals import PrincipalChecks, no_tokens
from itcook.realtime.publishing import Publishing
from itcook.realtime.recent import RecentEvents
from itcook.realtime.relay import Unsent
from itcook.realtime.sequencer import Sequencer
from itcook.realtime.stats import merge_snapshots

__all__ = ["Authorizer", "FrameHandler", "KeyParser", "RealtimeState"]

log = logging.getLogger(__name__)

#: Handles a client frame of a type the app registered: (principal, connection, the frame).
FrameHandler = Callable[[Principal, Connection, dict[str, Any]], None]


class RealtimeState(Publishing, Dispatching, ChannelRegistry, PrincipalChecks):
    """Everything the plugin keeps for one app; ``app.extensions["realtime"]``."""

    def __init__(self, app: Flask, config: dict[str, Any], tables: dict[str, Any], *,
                 db: Any = None, engine: Engine | None = None,
                 authenticate: Authenticator | None = None) -> None:
        self.app = app
        self.config = config
        self.tables = tables
        #: The host's Flask-SQLAlchemy instance (its ``session`` is the transaction an event
        #: published in a request joins), or None with a bare ``engine``.
        self.db = db
        self._bare_engine = engine
        self._sessions: sessionmaker[Session] | None = None  # without ``db``: our own sessions
        self.metadata = tables["events"].metadata  # where the plugin's tables are declared
        self.periodic: Periodic | None = None  # its own job runner, unless the host schedules them
        install_session_hooks(db.session if db is not None else self.sessions)
        # The window never reaches past what the log's retention keeps: a resume answers the
        # same whichever process (with or without the window) takes it.
        window = min(config["replay_cache"], config["retention_count"] or config["replay_cache"])
        self.hub = Hub(config["replay_buffer"], RecentEvents(window, config["retention_seconds"]))
        # ``broker`` carries events between processes; ``cluster`` holds what they share.
        self.broker: Transport
        self.cluster: ClusterStore
        self.broker, self.cluster = open_backend(config["broker_url"], config["broker_prefix"])
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
        self.active_users: ActiveUsers = lambda ids: {
            p.user_id: p.session for p in map(self.principal_loader, ids) if p is not None}
        #: Checked tokens: a reconnect skips the signature check. Without an authenticator
        #: only tickets (and the app's own principal checks) admit anyone.
        self.verified_tokens = VerifiedTokens(authenticate or no_tokens)
        self.authorizers: dict[str, tuple[Authorizer, str, KeyParser]] = {}
        #: Client frame types the app handles (``Realtime.register_frame``).
        self.frame_handlers: dict[str, FrameHandler] = {}
        #: Size limits of the frame types registered with their own (``max_bytes``).
        self.frame_limits: dict[str, int] = {}
        #: Called with each WebSocket connection that ended (what it held must go with it).
        self.disconnect_hooks: list[Callable[[Connection], None]] = []
        self._history: History | None = None
        self._outbox: Outbox | None = None
        self._tickets: Tickets | None = None
        self._counts: EventCounts | None = None
        self._queue: gevent.queue.Queue[Message] = gevent.queue.Queue()
        # Between the broker and the dispatcher: durable events in id order, each once, holes
        # filled from the log (the log is the truth, the broker a doorbell).
        self.sequencer = Sequencer(self._queue.put, self._read_missed,
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
        self.presence_ttl = max(3 * config["stats_interval"], 3 * ticker.tick_interval(config), 2.0)

    # -- lazily bound resources -------------------------------------------------------------
    def _engine(self) -> Engine:
        if self._bare_engine is not None:
            return self._bare_engine
        with self.app.app_context():
            return self.db.engine  # type: ignore[no-any-return]

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the plugin's engine, for a host that gave an engine and no ``db``."""
        if self._sessions is None:
            self._sessions = sessionmaker(bind=self._bare_engine)
        return self._sessions

    def open_transaction(self) -> Session | None:
        """The host's ``db.session`` in this app's context if it is inside a transaction."""
        if self.db is None or not has_app_context():
            return None
        if current_app._get_current_object() is not self.app:  # type: ignore[attr-defined]
            return None
        if not self.db.session.registry.has():  # no session yet: not one made just to ask
            return None
        session = self.db.session()
        return session if session.in_transaction() else None

    def release_session(self) -> None:
        """A long-lived stream must not hold the request's database session: give it back."""
        if self.db is not None:
            self.db.session.remove()

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
        self.sequencer.restart()
        self._sequencing = gevent.spawn(self.sequencer.run)
        self._greenlets = [gevent.spawn(self._dispatch_loop), gevent.spawn(ticker.tick_loop, self),
                           self._sequencing]
        if self.config["principal_recheck_interval"] > 0:
            self._greenlets.append(gevent.spawn(ticker.recheck_loop, self))
        self.outbox.stopping = False
        self._flusher = gevent.spawn(self.outbox.flush_loop, self.config["outbox_flush_delay"])
        self.broker.start(self._receive, self.resync)

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
        self.cluster.close()

    def cluster_snapshot(self) -> dict[str, Any]:
        """This process's statistics merged with every other live process's (cluster store)."""
        mine = self.snapshot()
        others = [s for s in self.cluster.gather_stats() if s.get("process_id") != self.process_id]
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
