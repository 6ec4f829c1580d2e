"""The embedded broker: one process, events go straight to the local dispatcher."""

from __future__ import annotations

from itcook.realtime.brokers.base import Broker, Handler
from itcook.realtime.events import Event


class MemoryBroker(Broker):
    """In-process delivery; the dispatcher's queue keeps publishers from waiting on fan-out."""

    def __init__(self) -> None:
        self._handler: Handler | None = None

    def start(self, handler: Handler) -> None:
        self._handler = handler

    def publish(self, event: Event) -> None:
        if self._handler is not None:
            self._handler(event)

    def stop(self) -> None:
        self._handler = None
