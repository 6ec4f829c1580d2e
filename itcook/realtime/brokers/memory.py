"""The embedded backend: one process, events go straight to the local dispatcher."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from itcook.realtime.brokers.base import ClusterStore, Handler, Message, RoomState, Transport


class MemoryTransport(Transport):
    """In-process delivery; the dispatcher's queue keeps publishers from waiting on fan-out."""

    def __init__(self) -> None:
        self._handler: Handler | None = None

    def start(self, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        self._handler = handler

    def publish(self, message: Message) -> bool:
        if self._handler is not None:
            self._handler(message)
        return True

    def stop(self) -> None:
        self._handler = None


class MemoryStore(ClusterStore):
    """One process: every lock is free, and the only statistics are its own."""

    def __init__(self) -> None:
        self._stats: dict[str, Any] = {}
        self._rooms: dict[str, dict[str, tuple[float, str]]] = {}
        self._room_seq = 0
        self._tallies: dict[str, dict[str, int]] = {}

    def try_lock(self, name: str, ttl: float) -> bool:
        return True  # nobody to share the job with

    def share_stats(self, process_id: str, snapshot: dict[str, Any], ttl: float) -> None:
        self._stats = snapshot

    def gather_stats(self) -> list[dict[str, Any]]:
        return [self._stats] if self._stats else []

    def room_update(self, room: str, member: str, value: str | None, ttl: float) -> RoomState:
        now = time.monotonic()
        members = self._rooms.setdefault(room, {})
        if value is None:
            members.pop(member, None)
        else:
            members[member] = (now + ttl, value)
        for key in [k for k, (until, _) in members.items() if until <= now]:
            del members[key]
        if not members:
            del self._rooms[room]
        self._room_seq += 1
        return self._room_seq, {k: v for k, (_, v) in members.items()}

    def add_counts(self, key: str, counts: dict[str, int], ttl: float) -> None:
        tally = self._tallies.setdefault(key, {})
        for name, n in counts.items():
            tally[name] = tally.get(name, 0) + n

    def take_counts(self, key: str) -> dict[str, int]:
        return self._tallies.pop(key, {})
