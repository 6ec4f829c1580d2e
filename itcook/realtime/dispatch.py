"""The dispatcher of ``RealtimeState``: broker messages in order to the hub, and resyncs."""

from __future__ import annotations

import logging

import gevent
import gevent.queue

from itcook.realtime.brokers import Transport
from itcook.realtime.brokers.base import Message
from itcook.realtime.connection import Connection
from itcook.realtime.control import DISCONNECT, FORGET_RECENT, REVOKE, Control
from itcook.realtime.events import CLOSE_INTERNAL, CLOSE_USER_REVOKED, Event
from itcook.realtime.history import History
from itcook.realtime.hub import Hub
from itcook.realtime.relay import Unsent
from itcook.realtime.sequencer import Sequencer

log = logging.getLogger(__name__)


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


class Dispatching:
    """Receives from the broker, fans out in batches, applies control messages, resyncs."""

    hub: Hub
    broker: Transport
    sequencer: Sequencer
    unsent: Unsent
    history: History
    dispatch_batch: int
    last_dispatched_id: int
    resyncs: int
    _queue: gevent.queue.Queue[Message]
    _greenlets: list[gevent.Greenlet]

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
