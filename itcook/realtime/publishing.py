"""Publishing of ``RealtimeState``: events and control messages, in or out of a transaction."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from itcook.realtime.auth import Tickets
from itcook.realtime.brokers import Transport
from itcook.realtime.brokers.base import Message
from itcook.realtime.control import DISCONNECT, FORGET_RECENT, REVOKE, Control
from itcook.realtime.counts import EventCounts
from itcook.realtime.events import Event
from itcook.realtime.history import History
from itcook.realtime.outbox import Outbox, stage
from itcook.realtime.relay import Unsent
from itcook.realtime.signals import event_logged, event_published

log = logging.getLogger(__name__)


class Publishing:
    """Hands events to the log and the broker (after the caller's commit), and control messages."""

    app: Flask
    db: Any
    config: dict[str, Any]
    broker: Transport
    unsent: Unsent
    # Properties of RealtimeState (bound lazily to the host's engine).
    outbox: Outbox
    counts: EventCounts
    history: History
    tickets: Tickets

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
            if event_logged.receivers:
                event_logged.send(self.app, event=event)  # the host's rows of it, in the transaction
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
        if not event_published.receivers:
            return
        for event in events:
            try:
                event_published.send(self.app, event=event)
            except Exception:  # the event is out; what listens afterwards must not undo that
                log.exception("event_published receiver failed for event %s", event.id)

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
