"""Events this process logged but could not hand to the broker, published again once it is back.

The minimal form of the outbox relay: kept in memory, so a restart forgets them. Nothing is lost
then either: every process's sequencer watches the log's tail and reads such events from it;
this only makes them arrive at once when the link returns.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from itcook.realtime.events import Event

log = logging.getLogger(__name__)


class Unsent:
    """Logged events whose broker publish failed, oldest first (at most ``limit``)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._events: deque[Event] = deque(maxlen=max(1, limit))

    def __len__(self) -> int:
        return len(self._events)

    def note(self, event: Event) -> None:
        """Remember ``event`` for the next ``republish`` (past ``limit`` the oldest is dropped)."""
        self._events.append(event)

    def republish(self, publish: Callable[[Event], bool]) -> int:
        """Publish the remembered events in order until one fails; return how many went out."""
        sent = 0
        while self._events:
            if not publish(self._events[0]):
                break
            self._events.popleft()
            sent += 1
        if sent:
            log.warning("realtime: published %d event(s) logged while the broker was unreachable", sent)
        return sent
