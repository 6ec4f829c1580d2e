"""Per-app engine of the plugin: hub, log, broker, dispatcher; publishing, channels, principals.

The clock (heartbeats, idle sweep, reports, principal recheck) is ``ticker.py``.
"""

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
from itcook.realtime.connection import SSE, Connection
from itcook.realtime.control import DISCONNECT, FORGET_RECENT, REVOKE, Control
from itcook.realtime.counts import EventCounts
from itcook.realtime.errors import RealtimeError
from itcook.realtime.events import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_REASONS,
    CLOSE_USER_REVOKED,
    Event,
    ProtocolError,
    sse_going_away,
)
from itcook.realtime.history import History
from itcook.realtime.hub import Hub
from itcook.realtime.outbox import Outbox, install_session_hooks, stage
from itcook.realtime.periodic import Periodic
from itcook.realtime.presence import TypingTracker
from itcook.realtime.recent import RecentEvents
from itcook.realtime.relay import Unsent
from itcook.realtime.sequencer import Sequencer
from itcook.realtime.stats import merge_snapshots

log = logging.getLogger(__name__)

DEFAULT_CHANNELS = ("personal", "community", "system")
# A channel kind and its key: any safe string (``room:general``, ``chat-room:7``). ASCII only
# (``\d`` would take other scripts' digits) and fullmatch (``$`` allows a "\n").
_SCOPED = re.compile(r"([a-z][a-z0-9_-]{0,31}):([A-Za-z0-9._~-]{1,64})")
_INT_KEY = re.compile(r"[0-9]{1,19}")
_MAX_ID = 2**63 - 1  # the widest id column: a larger id names nothing

#: May this principal hold the channel ``<prefix>:<key>``? (principal id, parsed key).
Authorizer = Callable[[Any, Any], bool]
#: Parses a channel key: the value the authorizer gets, None if it names nothing (refused with
#: the kind's denied code), or ``ValueError`` if malformed (``unknown_channel``).
KeyParser = Callable[[str], Any]
#: Handles a client frame of a type the app registered: (principal, connection, the frame).
FrameHandler = Callable[[Principal, Connection, dict[str, Any]], None]
T = TypeVar("T")


def int_key(raw: str) -> int | None:
    """A row id key (``post:7``): ASCII digits; wider than any id column names nothing."""
    if _INT_KEY.fullmatch(raw) is None:
        raise ValueError(raw)
    ident = int(raw)
    return ident if ident <= _MAX_ID else None


def _runs(batch: list[Message]) -> list[list[Event] | Control]:
    """Split ``batch`` into runs of consecutive events of one channel, and control messages."""
    runs: list[list[Event] | Control] = []
    for item in batch:
        last = runs[-1] if runs else None
        if isinstance(item, Control):
            runs.append(item)
        elif isinstance(last, list) and last[-1].channel == item.channel:
            last.append(item)
        else:
            runs.append([item])
    return runs


class RealtimeState:
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
        self.verified_tokens = VerifiedTokens(authenticate or _no_tokens)
        #: Called in the domain's transaction as a durable event is written in it (the host's).
        self.on_logged: Callable[[Event], None] | None = None
        #: Called once a durable event went to the broker, after its commit (the host sets it).
        self.after_publish: Callable[[Event], None] | None = None
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

    # -- publishing -------------------------------------------------------------------------
    def publish_event(self, event: Event) -> Event:
        """Publish ``event``: inside the caller's transaction, with it (durable ones are written
        in it, and go out after its commit); outside one, at once (durable ones logged first)."""
        self.ensure_started()
        session = self.open_transaction()
        if session is not None:
            self._log(session, event)
        elif event.durable and self.db is not None:
            with self.app.app_context():  # a transaction (and a session) of its own
                self._log(self.db.session(), event)
                self.db.session.commit()
        elif event.durable:
            with self.sessions() as own, own.begin():
                self._log(own, event)
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

    def hand_over(self, messages: list[Message]) -> None:
        """Give committed events and control messages to the broker, in order; never waits on
        fan-out."""
        published = []
        for event in messages:
            if isinstance(event, Control):
                if event.action == DISCONNECT:
                    # Here at once, whatever the broker's state; other processes that miss the
                    # message find the user revoked at their next principal recheck.
                    self._apply(event)
                self.broker.publish(event)
                continue
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

    def send_control(self, control: Control) -> None:
        """Send ``control`` to every process: after the caller's commit inside a transaction
        (dropped with a rollback), at once outside one."""
        self.ensure_started()
        session = self.open_transaction()
        if session is not None:
            stage(session, self, control)
        else:
            self.hand_over([control])

    def disconnect_user(self, user_id: Any, code: int) -> None:
        """Close every connection of ``user_id`` in every process (after the caller's commit)."""
        self.send_control(Control(DISCONNECT, user_id=user_id, code=code))

    def revoke(self, channel: str, user_id: Any = None) -> None:
        """Take ``user_id``'s connections (everyone's when None) off ``channel`` in every process
        (after the caller's commit)."""
        self.send_control(Control(REVOKE, channel=channel, user_id=user_id))

    def forget_recent(self) -> None:
        """Empty the window of recent events in every process (after the caller's commit: the
        purge it follows): resumes read the log again."""
        self.send_control(Control(FORGET_RECENT))

    def _receive(self, message: Message) -> None:
        """Take a message from the broker: events go through the sequencer, control messages
        straight to the dispatcher (in the order they came)."""
        if isinstance(message, Control):
            self._queue.put(message)
        else:
            self.sequencer.offer(message)

    def _apply(self, control: Control) -> None:
        """Act on this process's connections as ``control`` says."""
        if control.action == DISCONNECT:
            for conn in self.hub.user_connections(control.user_id):
                conn.abort(int(control.code or CLOSE_USER_REVOKED))
        elif control.action == REVOKE:
            self.hub.revoke(str(control.channel), control.user_id)
        elif control.action == FORGET_RECENT:
            self.hub.recent.reset()

    def reserve_connection(self, user_id: Any) -> bool:
        """Hold one of ``user_id``'s stream slots, counted over every process; False at the cap.

        The local reservation comes first (simultaneous handshakes here), then the cluster
        store's atomic check of what the other processes reported (simultaneous ones elsewhere).
        """
        cap = self.config["max_connections_per_user"]
        hub = self.hub
        if not hub.reserve(user_id, cap):
            return False
        held = hub.user_connection_count(user_id) + hub.admitting[user_id] - 1
        if self.cluster.claim_connection(self.process_id, user_id, held, cap, self.presence_ttl):
            return True
        hub.release(user_id)
        return False

    def is_user_online(self, user_id: Any) -> bool:
        """Whether ``user_id`` holds a live connection here or (as the cluster store knows) elsewhere."""
        return bool(self.hub.user_connection_count(user_id)) or self.cluster.user_present(user_id)

    def _dispatch_loop(self) -> None:
        queue = self._queue
        while True:
            batch = [queue.get()]
            # Events that queued up behind each other (a burst) go out together: fanout_run.
            while len(batch) < self.dispatch_batch and queue.qsize():
                batch.append(queue.get_nowait())
            for run in _runs(batch):
                if isinstance(run, Control):
                    try:
                        self._apply(run)
                    except Exception:
                        log.exception("control message %s failed", run.action)
                    continue
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
        self.hub.fanout_run(run)
        newest = max((e.id for e in run if e.id is not None), default=0)
        if newest > self.last_dispatched_id:
            self.last_dispatched_id = newest

    def recheck_principals(self) -> int:
        """Close (4003) every local connection whose user is no longer active; return how many."""
        return ticker.recheck_principals(self)

    def _read_missed(self, first: int, last: int, limit: int) -> list[Event]:
        """The logged events ``first..last`` whose doorbell did not ring (the sequencer's reads).

        Read while cut off from the broker, they would go out with every revocation published
        meanwhile lost the same way (a disable, a removal from a group, on another process):
        the users are checked again first, so a disabled one is closed, and the subscribers of
        these events' scoped channels are authorized again, so a removed one is dropped,
        before anything the log brings reaches them.
        """
        events = self.history.between(first, last, limit)
        if events and not self.broker.connected:
            closed = self.recheck_principals()
            if closed:
                log.warning("realtime: cut off from the broker, closed %d connections of revoked users",
                            closed)
            self._reauthorize({e.channel for e in events})
        return events

    def _reauthorize(self, channels: set[str]) -> None:
        """Drop (``access_revoked``) the live subscribers of ``channels`` no longer allowed on them."""
        for channel in channels:
            if channel.partition(":")[0] not in self.authorizers:
                continue  # personal, community, system: nothing to revoke
            members = [c for c in self.hub.channels.get(channel, ()) if not c.closed]
            allowed = {u: self._authorized(u, channel) for u in {c.user_id for c in members}}
            for conn in members:
                if not allowed[conn.user_id] and channel in conn.channels:
                    self.hub.drop(conn, channel)


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

    # -- channels ---------------------------------------------------------------------------
    def register_channel(self, prefix: str, authorize: Authorizer, denied_code: str,
                         key: KeyParser = int_key) -> None:
        """Allow ``<prefix>:<key>`` channels for users ``authorize(user_id, key(raw))`` accepts."""
        if _SCOPED.fullmatch(f"{prefix}:x") is None or prefix in ("personal", "user"):
            raise ValueError(f"channel kind {prefix!r}: lower-case letters, digits, - and _, "
                             "not personal or user")
        self.authorizers[prefix] = (authorize, denied_code, key)

    def resolve_channel(self, principal: Principal, name: str) -> str:
        """Map a client's channel name to the internal key, or raise ``ProtocolError``."""
        if name == "personal":
            return f"user:{principal.user_id}"
        if name in ("community", "system"):
            return name
        match = _SCOPED.fullmatch(name)
        if match is None:
            raise ProtocolError("unknown_channel", f"unknown channel {name[:64]!r}", channel=name[:64])
        prefix, raw = match.group(1), match.group(2)
        if prefix in ("personal", "user"):
            return self._own_channel(principal, name, raw)
        entry = self.authorizers.get(prefix)
        if entry is None:
            raise ProtocolError("unknown_channel", f"unknown channel {name!r}", channel=name)
        authorize, denied_code, parse = entry
        try:
            ident = parse(raw)
        except ValueError:
            raise ProtocolError("unknown_channel", f"unknown channel {name!r}", channel=name) from None
        if ident is None:  # a key that names nothing (wider than any id column, say)
            raise ProtocolError(denied_code, f"channel {name!r} is not available", channel=name)
        with self.app.app_context():
            allowed = authorize(principal.user_id, ident)
        if not allowed:
            raise ProtocolError(denied_code, f"channel {name!r} is not available", channel=name)
        return f"{prefix}:{ident}"

    @staticmethod
    def _own_channel(principal: Principal, name: str, raw: str) -> str:
        """``user:<id>`` / ``personal:<id>``: the principal's own channel, nobody else's."""
        own = principal.user_id
        if isinstance(own, int) and not isinstance(own, bool):
            try:
                mine = int_key(raw) == own  # ``user:007`` is user 7
            except ValueError:  # not an id at all
                raise ProtocolError("unknown_channel", f"unknown channel {name!r}", channel=name) from None
        else:
            mine = raw == str(own)
        if not mine:
            raise ProtocolError("forbidden_channel", "another user's personal channel", channel=name)
        return f"user:{own}"

    def allowed_channels(self, user_id: Any, keys: list[str]) -> list[str]:
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

    def _authorized(self, user_id: Any, key: str) -> bool:
        prefix, _, raw = key.partition(":")
        entry = self.authorizers.get(prefix)
        if entry is None:
            return True  # personal, community, system: nothing to revoke
        try:
            ident = entry[2](raw)
        except ValueError:
            return False
        with self.app.app_context():
            return ident is not None and bool(entry[0](user_id, ident))

    def load_principal(self, user_id: Any) -> Principal | None:
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


def _no_tokens(_token: str) -> Any:
    """The authenticator of a host that gave none and has no flask-jwt-extended."""
    raise RealtimeError(401, "invalid_token", "this server accepts no bearer tokens; use a ticket")
