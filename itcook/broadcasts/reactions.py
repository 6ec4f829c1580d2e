"""Reactions: ``React`` frames are counted, never echoed; one ``LiveReactions`` per second per
broadcast carries the counts of every process.

Each process adds its frames to a local tally and, every tick, moves it into the cluster
store's shared tally (one atomic add). Once a second one process, the holder of the cluster
lock ``live-reactions``, takes the shared tally (read and reset atomically) and publishes it.
A reaction is thus in exactly one take: the counts published sum to the reactions accepted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from flask import Flask

from itcook.extensions import realtime
from itcook.realtime import Principal
from itcook.realtime.connection import Connection
from itcook.realtime.events import Event, ProtocolError
from itcook.validation import MAX_ID

log = logging.getLogger(__name__)

#: The reactions a viewer may send (docs/live.md).
EMOJIS = frozenset({"👍", "❤️", "😋", "🔥", "👏", "😮"})
TALLY, LOCK = "live-reactions", "live-reactions"
#: How long the shared tally outlives its last add if no process takes it (all gone).
TALLY_TTL = 300.0
#: Seconds a broadcast's status is trusted from memory: a reaction costs no query.
STATUS_TTL = 2.0


def _live_id(frame: dict[str, Any]) -> int:
    value = frame.get("live_id")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ProtocolError("invalid_field", "live_id must be a positive integer", field="live_id")
    return value


class Reactions:
    """This process's tally not yet shared, and the flush that publishes everyone's."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.local: Counter[str] = Counter()  # "<live id>:<emoji>" -> reactions accepted here
        self._status: dict[int, tuple[float, bool]] = {}  # live id -> (checked at, is live)

    def _is_live(self, live_id: int) -> bool:
        now = time.monotonic()
        cached = self._status.get(live_id)
        if cached is not None and now - cached[0] < STATUS_TTL:
            return cached[1]
        from itcook.extensions import db
        from itcook.models import LiveBroadcast

        with self.app.app_context():
            status = db.session.get(LiveBroadcast, live_id)
            live = status is not None and status.status == "live"
            db.session.remove()
        if len(self._status) > 10_000:
            self._status.clear()
        self._status[live_id] = (now, live)
        return live

    def on_react(self, principal: Principal, conn: Connection, frame: dict[str, Any]) -> None:
        """React {live_id, emoji}: counted if the connection watches a live broadcast."""
        live_id = _live_id(frame)
        emoji = frame.get("emoji")
        if not isinstance(emoji, str) or emoji not in EMOJIS:
            raise ProtocolError("invalid_field", "emoji must be one of " + " ".join(sorted(EMOJIS)),
                                field="emoji")
        if f"live:{live_id}" not in conn.channels:
            raise ProtocolError("not_watching", f"subscribe to live:{live_id} first", live_id=live_id)
        if not self._is_live(live_id):
            raise ProtocolError("not_live", "the broadcast is not live", live_id=live_id)
        self.local[f"{live_id}:{emoji}"] += 1
        self.app.extensions["broadcasts.pulse"].wake()

    def share(self) -> bool:
        """Move this process's tally into the cluster's (kept here if the store is down);
        True if something moved."""
        if not self.local:
            return False
        pending, self.local = self.local, Counter()
        try:
            realtime.state(self.app).cluster.add_counts(TALLY, dict(pending), TALLY_TTL)
        except Exception:
            log.warning("live reactions: cannot reach the cluster store; kept for the next tick")
            self.local.update(pending)
            return False
        return True

    def flush(self) -> bool:
        """If this process takes this second's lock: publish the cluster's tally, per broadcast;
        True if it took the lock."""
        state = realtime.state(self.app)
        if not state.cluster.try_lock(LOCK, 1.0):
            return False
        counts: dict[int, dict[str, int]] = {}
        for key, n in state.cluster.take_counts(TALLY).items():
            live_id, _, emoji = key.partition(":")
            counts.setdefault(int(live_id), {})[emoji] = n
        for live_id, by_emoji in counts.items():
            state.publish_now(Event(type="LiveReactions", channel=f"live:{live_id}",
                                    data={"live_id": live_id, "counts": by_emoji}, durable=False))
        return True
