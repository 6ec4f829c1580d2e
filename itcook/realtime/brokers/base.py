"""The two halves of a backend: a transport that carries messages between processes, and a
cluster store for the little the processes coordinate on.

Kept apart (as python-socketio keeps its pub/sub transport apart from its bookkeeping): the
transport is a stream that reconnects and resubscribes, the store a set of small keyed values
with expiry; neither needs the other to be read or replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from itcook.realtime.control import Control
from itcook.realtime.events import Event

#: What a transport carries: an event for subscribers, or a control message for the processes.
Message = Event | Control
Handler = Callable[[Message], None]
#: A room after an update: (its sequence number, member -> value).
RoomState = tuple[int, dict[str, str]]


def encode(message: Message) -> str:
    """The JSON text of ``message`` on the wire: its kind is the envelope's one key."""
    kind = "control" if isinstance(message, Control) else "event"
    return json.dumps({kind: message.to_message()}, separators=(",", ":"))


def decode(text: str | bytes) -> Message:
    """The message ``encode`` wrote; ``ValueError`` (or ``KeyError``/``TypeError``) if malformed."""
    envelope = json.loads(text)
    if not isinstance(envelope, dict) or len(envelope) != 1:
        raise ValueError("a broker message is an object with one key: 'event' or 'control'")
    if "control" in envelope:
        return Control.from_message(envelope["control"])
    return Event.from_message(envelope["event"])


class Transport:
    """Carries events and control messages to every process (this one included) that called
    ``start``."""

    #: True while events published now reach every process (False during an outage).
    connected: bool = True

    def start(self, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        """Deliver every published message to ``handler``; call ``on_reconnect`` after an outage."""
        raise NotImplementedError

    def publish(self, message: Message) -> bool:
        """Send ``message`` to every process; False (never an exception) if it could not."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop delivering and release connections."""


class ClusterStore:
    """The cluster's shared memory: a lock with expiry (so a periodic job runs once per
    cluster), the per-process statistics that ``/stats`` merges, who is connected (presence)
    and how many connections each user holds (the per-user cap)."""

    #: Whether other processes share this store (False: one process, nothing to report to it).
    shared: bool = False

    def try_lock(self, name: str, ttl: float) -> bool:
        """Take the cluster-wide lock ``name`` for ``ttl`` seconds unless someone holds it."""
        raise NotImplementedError

    def share_stats(self, process_id: str, snapshot: dict[str, Any], ttl: float) -> None:
        """Publish this process's statistics; they drop out ``ttl`` seconds after the last call."""
        raise NotImplementedError

    def gather_stats(self) -> list[dict[str, Any]]:
        """The latest statistics of every live process."""
        raise NotImplementedError

    def set_presence(self, process_id: str, online: list[int], offline: list[int], ttl: float) -> None:
        """Record which users hold connections in this process (``online`` kept for ``ttl`` s)."""

    def claim_connection(self, process_id: str, user_id: int, held_here: int, cap: int,
                         ttl: float) -> bool:
        """Atomically: whether ``held_here`` plus what other processes hold is under ``cap``; if
        so, record ``held_here + 1`` for this process (kept ``ttl`` s). True when unknown."""
        return True  # one process: its own count is the whole count

    def report_connections(self, process_id: str, counts: dict[int, int], ttl: float) -> None:
        """Record how many connections (and admissions) each user holds here; 0 removes."""

    def room_update(self, room: str, member: str, value: str | None, ttl: float) -> RoomState:
        """Atomically set (``value``) or remove (None) ``member`` of the shared ``room``, then
        return (a sequence number, every live member's value). A member not set again within
        ``ttl`` seconds drops out (its process died); sequence numbers grow with each update."""
        raise NotImplementedError

    def add_counts(self, key: str, counts: dict[str, int], ttl: float) -> None:
        """Atomically add ``counts`` to the shared tally ``key`` (kept ``ttl`` s after the last add)."""
        raise NotImplementedError

    def take_counts(self, key: str) -> dict[str, int]:
        """Atomically read the tally ``key`` and reset it: each count is taken exactly once."""
        raise NotImplementedError

    def user_present(self, user_id: int) -> bool:
        """Whether another process reported a live connection of ``user_id`` (False: unknown)."""
        return False

    def close(self) -> None:
        """Release connections."""
