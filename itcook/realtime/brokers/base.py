"""The broker interface: publish events, and hand what arrives to this process's dispatcher."""

from __future__ import annotations

from collections.abc import Callable

from itcook.realtime.events import Event

Handler = Callable[[Event], None]


class Broker:
    """Carries events to every process (including this one) that subscribed with ``start``."""

    #: True while events published now reach other processes (False during an outage).
    connected: bool = True

    def start(self, handler: Handler) -> None:
        """Begin delivering every published event to ``handler`` (called in this process)."""
        raise NotImplementedError

    def publish(self, event: Event) -> None:
        """Send ``event`` to every process; must never raise into the publisher."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop delivering and release connections."""
