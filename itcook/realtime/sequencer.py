"""Per-process sequencer: durable events reach the dispatcher in id order, each once, none missed.

The event log is the source of truth and the broker only a doorbell. Doorbells may come out of id
order (transactions commit out of order), twice (a relay publishes again what it is not sure went
out), or never (a process cut off from the broker, a crash between commit and publish). So:

- an event whose id is the next expected one goes straight through (the common case: no wait);
- an early one waits in ``pending``; after a short grace the missing ids are read from the log;
  an id still absent when the oldest waiting event has waited ``gap_wait`` seconds is skipped
  (a rolled-back transaction's id, or one committing too late to be delivered in order);
- an id at or below the frontier is dropped (a duplicate, or an event that came after its id
  was skipped: counted and logged);
- every ``gap_wait`` seconds, and when ``poke``\\ d (a broker reconnect), the log's newest id is
  compared with the frontier: events whose doorbell never rang are read from the log.

Events without an id (typing, control messages) go straight through.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import gevent
import gevent.event

from itcook.realtime.events import Event

log = logging.getLogger(__name__)

#: (first, last, limit) -> up to ``limit`` logged events with ``first <= id <= last``, in id order.
ReadRange = Callable[[int, int, int], list[Event]]

#: A doorbell is normally a millisecond behind its commit: a hole gets this long before the log
#: is read for it (most close by themselves, without a query).
GRACE = 0.05
#: Skipped ids remembered, to tell an event that arrives after its id was skipped from a duplicate.
_SKIPPED_KEPT = 1024


class Sequencer:
    """Hands durable events to ``emit`` in id order, each once; fills holes from the log."""

    def __init__(self, emit: Callable[[Event], object], read_range: ReadRange,
                 newest: Callable[[], int], gap_wait: float = 1.5, batch: int = 500,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.emit = emit
        self.read_range = read_range
        self.newest = newest  # the log's newest id
        self.gap_wait = max(0.0, gap_wait)
        self.batch = max(1, batch)
        self.clock = clock
        #: The next id to hand over; None until anchored at the log's newest id (``run``).
        self.next_id: int | None = None
        self._passed = 0  # the highest id handed over before anchoring
        self._pending: dict[int, Event] = {}
        # (when, id) of each early arrival, oldest first: a hole has been known since the oldest
        # event still waiting arrived (entries of events handed over are dropped lazily).
        self._arrivals: deque[tuple[float, int]] = deque()
        self._poked = False
        self._stopped = False
        self._skipped: deque[int] = deque(maxlen=_SKIPPED_KEPT)
        self._wake = gevent.event.Event()
        self._advanced: gevent.event.Event | None = None  # set when next_id moves, if anyone waits
        self.from_log = 0  # events read from the log because their doorbell had not rung
        self.skipped = 0  # ids given up after gap_wait (rolled back, or committed too late)
        self.late = 0  # events that arrived after their id was skipped: no live client got them
        self.duplicates = 0

    @property
    def frontier(self) -> int | None:
        """Every id up to here has been handed over or given up; None before anchoring."""
        return None if self.next_id is None else self.next_id - 1

    def offer(self, event: Event) -> None:
        """Take an event from the broker (or the local publish path); never blocks."""
        event_id = event.id
        if event_id is None:
            self.emit(event)
            return
        next_id = self.next_id
        if next_id is not None and event_id == next_id and not self._pending:
            self.next_id = next_id + 1  # in order, nothing waiting: straight through
            self.emit(event)
            if self._advanced is not None:
                self._moved()
            return
        if next_id is None:
            # Not anchored yet (the process's first moments, the log unreachable): straight
            # through in increasing order, rather than hold events on a query.
            if event_id > self._passed:
                self._passed = event_id
                self.emit(event)
            else:
                self._drop(event_id)
            return
        if event_id < next_id or event_id in self._pending:
            self._drop(event_id)
            return
        self._pending[event_id] = event
        self._arrivals.append((self.clock(), event_id))
        self._release()
        if self._pending:
            self._wake.set()

    def poke(self) -> None:
        """Compare the frontier with the log now (after a broker outage: doorbells were lost)."""
        self._poked = True
        self._wake.set()

    def stop(self) -> None:
        """Make ``run`` return once the query it is in (if any) is done."""
        self._stopped = True
        self._wake.set()

    def restart(self) -> None:
        """Before ``run`` is spawned again: a stop asked before a greenlet first runs must hold."""
        self._stopped = False

    def reach(self, event_id: int, timeout: float | None = None) -> int | None:
        """Wait (bounded) until every id up to ``event_id`` is handed over; return the frontier.

        A resume reads the log only up to the frontier: an id above it may still be committing,
        and a client given a higher one first would never get it. What lies above comes live.
        """
        if self.next_id is None:
            return None
        deadline = self.clock() + (2 * self.gap_wait + 1.0 if timeout is None else timeout)
        if self.next_id <= event_id:
            self.poke()
        while self.next_id <= event_id:
            left = deadline - self.clock()
            if left <= 0:
                break
            if self._advanced is None:
                self._advanced = gevent.event.Event()
            self._advanced.wait(left)
        return self.frontier

    def run(self) -> None:
        """The sequencer's greenlet: anchor, then fill holes and watch the log's tail, until
        ``stop`` (not killed: a greenlet killed in a query leaves its pooled connection mid-statement)."""
        while self.next_id is None and not self._stopped:
            try:
                self.anchor()
            except Exception as exc:
                log.warning("realtime: reading the event log's newest id failed (%s); retrying", exc)
                self._wake.wait(1.0)
        poll = self.gap_wait or 1.0
        next_tail = self.clock() + poll
        while not self._stopped:
            # Cleared before the work: an arrival or a poke during it means another round.
            self._wake.wait(max(0.0, next_tail - self.clock()))
            self._wake.clear()
            try:
                if self._pending:
                    self._fill()
                if self._poked or self.clock() >= next_tail:
                    self._poked = False
                    next_tail = self.clock() + poll
                    self._watch_tail()
            except Exception:
                log.exception("realtime: reading missing events from the log failed; retrying")
                gevent.sleep(min(1.0, poll))

    # -- inside the greenlet ----------------------------------------------------------------
    def anchor(self) -> None:
        """Start after the log's newest id (what came before is the log's to replay) or the
        highest id already handed over, whichever is higher."""
        self.next_id = max(self.newest(), self._passed) + 1

    def _fill(self) -> None:
        """Close the lowest hole: wait out the grace, read the log (again every quarter of
        ``gap_wait``), and skip what is still missing in a read made after ``gap_wait``."""
        recheck = max(GRACE, self.gap_wait / 4)
        hole, last_read = None, float("-inf")
        while self._pending and self.next_id is not None and not self._stopped:
            if hole != self.next_id:  # a new hole (or the first): not read yet
                hole, last_read = self.next_id, float("-inf")
            deadline = self._waiting_since() + self.gap_wait
            if last_read >= deadline:  # absent from a read made after the deadline
                self._skip_to(min(self._pending))
                continue
            due = (self._waiting_since() + GRACE if last_read == float("-inf")
                   else min(last_read + recheck, deadline))
            now = self.clock()
            if now < due:
                self._sleep(due - now)  # an arrival may close the hole meanwhile
                continue
            last_read = now  # the read sees what was committed when it started
            self._take(self.read_range(hole, min(self._pending) - 1, self.batch))
            gevent.sleep(0)  # many holes in a row must not hold the dispatcher up

    def _waiting_since(self) -> float:
        """When the oldest event still waiting arrived."""
        arrivals, pending = self._arrivals, self._pending
        while arrivals and arrivals[0][1] not in pending:
            arrivals.popleft()
        return arrivals[0][0] if arrivals else self.clock()

    def _watch_tail(self) -> None:
        """Hand over events the log has beyond the frontier (their doorbell never rang)."""
        newest = self.newest()
        if self.next_id is None or newest < self.next_id:
            return
        self._sleep(GRACE)  # a doorbell on its way is cheaper than a query
        while (self.next_id is not None and not self._pending and newest >= self.next_id
               and not self._stopped):
            first = self.next_id
            found = self.read_range(first, newest, self.batch)
            if not found:  # pruned meanwhile: nothing left to deliver there
                self._skip_to(newest + 1)
                return
            self._take(found)
            if len(found) < self.batch:
                return  # the rest (if a hole remains) is _fill's
            gevent.sleep(0)  # a long backlog must not hold the dispatcher up

    def _take(self, events: list[Event]) -> None:
        for event in events:
            if event.id is not None and self.next_id is not None and event.id >= self.next_id \
                    and event.id not in self._pending:
                self.from_log += 1
                self.offer(event)

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if something arrives (it may close the hole)."""
        if seconds > 0:
            self._wake.clear()  # the state was just looked at, without a yield since
            self._wake.wait(seconds)

    # -- bookkeeping ------------------------------------------------------------------------
    def _release(self) -> None:
        """Hand over the waiting events that follow the frontier without a hole."""
        pending, next_id = self._pending, self.next_id
        assert next_id is not None
        start = next_id
        while next_id in pending:
            event = pending.pop(next_id)
            next_id += 1
            self.next_id = next_id
            self.emit(event)
        if not pending:
            self._arrivals.clear()
        if next_id != start:
            self._moved()

    def _skip_to(self, event_id: int) -> None:
        assert self.next_id is not None
        gone = range(self.next_id, event_id)
        self.skipped += len(gone)
        self._skipped.extend(gone[-_SKIPPED_KEPT:])
        log.info("realtime: event ids %s-%s are not in the log after %.1f s; skipped",
                 gone.start, gone.stop - 1, self.gap_wait)
        self.next_id = event_id
        self._release()
        self._moved()

    def _drop(self, event_id: int) -> None:
        if event_id in self._skipped:
            self._skipped.remove(event_id)
            self.late += 1
            log.warning("realtime: event %s was committed after its id was skipped (%.1f s); live "
                        "clients here did not get it, a resume from below it does", event_id,
                        self.gap_wait)
        else:
            self.duplicates += 1

    def _moved(self) -> None:
        advanced = self._advanced
        if advanced is not None:
            self._advanced = None
            advanced.set()
