"""The event log as a transactional outbox: an event exists exactly when its change committed.

A durable event published inside a database transaction (the domain's ``db.session``) is
written in that transaction: its row in ``realtime_events`` and a row in ``realtime_outbox``
("logged, not yet published"). Nothing leaves the process before the commit. After the commit
the events of the transaction are handed to the broker in the order they were written; a
rollback discards them. Non-durable events and control messages (revocations, disconnects)
sent inside a transaction wait for the commit the same way, and are dropped with a rollback.

A process that dies between the commit and the hand-over leaves outbox rows behind: the relay
(a periodic job, once per cluster) publishes every outbox row older than the grace period,
so the event reaches clients connected elsewhere, late. Published ids leave the outbox in
batches (``Outbox.flush``); a process killed before its batch went out has those events
published a second time by the relay: a dispatcher receives an id at most twice, and
possibly after higher ids (see docs/outbox.md).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    delete,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from itcook.realtime.control import Control
from itcook.realtime.events import Event

if TYPE_CHECKING:
    from itcook.realtime.state import RealtimeState

log = logging.getLogger(__name__)

#: ``session.info`` key: the (state, event) pairs a transaction publishes once it commits.
_STAGED = "realtime.outbox"
#: Outbox rows one relay run publishes at most (the next run takes the rest).
RELAY_BATCH = 500


def define_outbox_table(metadata: MetaData) -> Table:
    """Declare ``realtime_outbox`` (event ids logged but not yet published) in ``metadata``."""
    if "realtime_outbox" in metadata.tables:
        return metadata.tables["realtime_outbox"]
    return Table(
        "realtime_outbox", metadata,
        # A pruned event needs no publishing any more: its outbox row goes with it.
        Column("event_id", BigInteger().with_variant(Integer, "sqlite"),
               ForeignKey("realtime_events.id", ondelete="CASCADE"), primary_key=True,
               autoincrement=False),
    )


def _naive_utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Outbox:
    """Write events in the caller's transaction, hand them over after its commit, relay the rest."""

    def __init__(self, engine: Engine, events: Table, outbox: Table) -> None:
        self.engine = engine
        self.events = events
        self.table = outbox
        prep = engine.dialect.identifier_preparer
        events_name, outbox_name = prep.format_table(events), prep.format_table(outbox)
        param = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        values = ", ".join([param] * 5)
        if engine.dialect.name == "postgresql":
            # One round trip for both rows.
            self._insert_sql = [
                f"WITH e AS (INSERT INTO {events_name} (type, channel, data, ts, created_at) "
                f"VALUES ({values}) RETURNING id) "
                f"INSERT INTO {outbox_name} (event_id) SELECT id FROM e RETURNING event_id"]
        else:
            self._insert_sql = [
                f"INSERT INTO {events_name} (type, channel, data, ts, created_at) "
                f"VALUES ({values}) RETURNING id",
                f"INSERT INTO {outbox_name} (event_id) VALUES ({param})"]
        self._published: list[int] = []  # handed over, still in the outbox table
        self._wake = gevent.event.Event()
        self.stopping = False  # set by ``stop``; cleared by whoever starts ``flush_loop``

    # -- in the domain's transaction ---------------------------------------------------------
    def write(self, session: Session, event: Event) -> None:
        """Insert ``event`` and its outbox row in ``session``'s transaction; set ``event.id``."""
        conn = session.connection()
        params = (event.type, event.channel, json.dumps(event.data), event.ts, _naive_utc_now())
        event_id = conn.exec_driver_sql(self._insert_sql[0], params).scalar_one()
        if len(self._insert_sql) > 1:
            conn.exec_driver_sql(self._insert_sql[1], (event_id,))
        event.id = int(event_id)

    # -- after the hand-over -----------------------------------------------------------------
    def published(self, ids: Iterable[int]) -> None:
        """Note that these events reached the broker; ``flush`` takes them out of the outbox."""
        self._published.extend(ids)
        self._wake.set()

    def flush(self) -> int:
        """Delete the outbox rows of every event handed over since the last flush; return count."""
        ids, self._published = self._published, []
        if not ids:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(self.table).where(self.table.c.event_id.in_(ids)))
        except Exception:
            # Still logged and published: the relay would publish them again. Try once more later.
            self._published = ids + self._published
            raise
        return len(ids)

    def flush_loop(self, pause: float) -> None:
        """Flush whenever ids were handed over, at most once per ``pause`` seconds (a greenlet);
        after ``stop``, flush once more and return."""
        while not self.stopping:
            self._wake.wait()
            self._wake.clear()
            if not self.stopping:
                self._wake.wait(pause)  # what the next moments hand over goes in the same DELETE
            try:
                self.flush()
            except Exception:
                log.exception("realtime: could not clear published events from the outbox")

    def stop(self) -> None:
        """Make ``flush_loop`` flush now and return (not killed mid-statement: a connection
        interrupted while it waits for an answer cannot go back to the pool)."""
        self.stopping = True
        self._wake.set()

    # -- the relay ---------------------------------------------------------------------------
    def relay(self, publish: Callable[[Event], bool], grace_seconds: float,
              limit: int = RELAY_BATCH) -> list[Event]:
        """Publish outbox events older than ``grace_seconds``, oldest first; return those published.

        Rows are locked while they are published (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so two
        relays never take the same one; a row whose publish fails stays for the next run.
        """
        events, outbox = self.events, self.table
        cutoff = _naive_utc_now() - dt.timedelta(seconds=grace_seconds)
        stmt = (select(events.c.id, events.c.type, events.c.channel, events.c.data, events.c.ts)
                .select_from(outbox.join(events, events.c.id == outbox.c.event_id))
                .where(events.c.created_at < cutoff).order_by(outbox.c.event_id).limit(limit)
                .with_for_update(of=outbox, skip_locked=True))
        done: list[Event] = []
        with self.engine.begin() as conn:
            for row in conn.execute(stmt).all():
                item = Event(type=row.type, channel=row.channel, data=row.data, id=int(row.id),
                             ts=row.ts)
                if publish(item):
                    done.append(item)
            if done:
                conn.execute(delete(outbox).where(outbox.c.event_id.in_([e.id for e in done])))
        return done

    def pending(self) -> int:
        """How many logged events wait in the outbox."""
        with self.engine.connect() as conn:
            return len(conn.execute(select(self.table.c.event_id)).all())


# -- the session hooks: on the host's sessions (its db.session) ------------------------------

def stage(session: Session, state: RealtimeState, message: Event | Control) -> None:
    """Hand ``message`` over to ``state`` once ``session``'s transaction commits (dropped on
    rollback)."""
    session.info.setdefault(_STAGED, []).append((state, message))


def _after_commit(session: Session) -> None:
    staged = session.info.pop(_STAGED, None)
    if not staged:
        return
    by_state: dict[int, tuple[RealtimeState, list[Event | Control]]] = {}
    for state, item in staged:
        by_state.setdefault(id(state), (state, []))[1].append(item)
    for state, items in by_state.values():
        try:
            state.hand_over(items)
        except Exception:  # the change is committed; the relay publishes what did not go out
            log.exception("realtime: hand-over after commit failed")


def _after_transaction_end(session: Session, transaction: Any) -> None:
    # A rollback (or a close without commit) of the outermost transaction: nothing happened.
    if transaction.parent is None:
        dropped = session.info.pop(_STAGED, None)
        durable = [e for _, e in dropped or () if isinstance(e, Event) and e.id is not None]
        if durable:
            # A failed change, or an event published after its change's commit (into a
            # transaction that never commits): say which, so the second kind is found.
            log.warning("realtime: %d logged events dropped with their transaction (ids %s)",
                        len(durable), [e.id for e in durable])


def install_session_hooks(sessions: Any) -> None:
    """Listen to the commits and transaction ends of the host's sessions only (``sessions``: its
    ``db.session``, or a ``sessionmaker``), never every ORM session of the process (idempotent)."""
    if not event.contains(sessions, "after_commit", _after_commit):
        event.listen(sessions, "after_commit", _after_commit)
        event.listen(sessions, "after_transaction_end", _after_transaction_end)
