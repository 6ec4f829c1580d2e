"""The newest durable events this process fanned out, kept encoded so a resume can skip the log.

A reconnect storm (a network blip, a proxy restart) brings thousands of clients back at once,
each a few seconds behind. Reading their backlog from the log costs two queries, a JSON decode
and an encode per event per client; these events were fanned out moments ago, already encoded.

The window is complete from its ``floor`` up: it holds every id above it. Events reach the
dispatcher in id order (the sequencer) and ids are consecutive, so the window grows only while
each id is the previous one plus one; a hole (an id the sequencer skipped: a rolled-back
insert, or one committing too late) restarts it after the hole, and a broker outage (``reset``)
or an event out of order empties it.
A resume from below the floor, or above the newest id here, goes to the log as before.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable

from itcook.realtime.events import Encoded, Event

#: Compaction slack: the list may hold this many times ``size`` entries before the oldest go.
_SLACK = 2


class RecentEvents:
    """A bounded, id-ordered window of recently dispatched durable events."""

    def __init__(self, size: int, max_age: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size = max(0, size)
        self.max_age = max_age  # seconds; 0 = no age limit (the log's retention, if any)
        self.clock = clock
        self._items: list[Encoded | Event] = []
        self._times: list[float] = []
        # Every event with an id above ``floor`` is in the window; None = nothing known yet.
        self.floor: int | None = None
        self.newest = 0

    def __len__(self) -> int:
        return len(self._items)

    def reset(self) -> None:
        """Forget everything (a broker outage: events may have been missed)."""
        self._items, self._times = [], []
        self.floor = None
        self.newest = 0

    def add(self, item: Encoded | Event) -> None:
        """Append a dispatched durable event (``Event`` or its ``Encoded`` form), in id order."""
        if not self.size:
            return
        event = item.event if isinstance(item, Encoded) else item
        event_id = event.id
        if event_id is None:
            return
        if event_id <= self.newest:
            # Out of order: higher ids went by before it, so "complete above N - 1" would be
            # false. Start again from the next event above everything seen.
            self._items, self._times, self.floor = [], [], None
            return
        if self.floor is None or event_id != self.newest + 1:
            # The first event, or a hole: the ids between may be in the log without ever having
            # reached this dispatcher (a failed broker publish, a dropped malformed message, a
            # rolled-back insert). Only what follows this event is known to be complete.
            self._items, self._times = [], []
            self.floor = event_id - 1
        self._items.append(item)
        self._times.append(self.clock())
        self.newest = event_id
        if len(self._items) > _SLACK * self.size:
            self._trim(len(self._items) - self.size)

    def _trim(self, count: int) -> None:
        if count <= 0:
            return
        last = self._items[count - 1]
        self.floor = (last.event if isinstance(last, Encoded) else last).id
        del self._items[:count]
        del self._times[:count]

    def _expire(self) -> None:
        if len(self._items) > self.size:
            self._trim(len(self._items) - self.size)
        if self.max_age > 0 and self._times and self._times[0] < self.clock() - self.max_age:
            self._trim(bisect.bisect_left(self._times, self.clock() - self.max_age))

    def after(self, event_id: int) -> list[Encoded] | None:
        """Every event with an id above ``event_id``, encoded; None if the window cannot tell."""
        self._expire()
        if self.floor is None or event_id < self.floor or event_id > self.newest:
            return None
        items = self._items
        start = bisect.bisect_right(items, event_id, key=_item_id)
        out: list[Encoded] = []
        for index in range(start, len(items)):
            item = items[index]
            if isinstance(item, Event):
                # Nobody here was subscribed when it was fanned out: encode it now, once.
                item = items[index] = Encoded(item)
            out.append(item)
        return out


def _item_id(item: Encoded | Event) -> int:
    return (item.event if isinstance(item, Encoded) else item).id or 0
