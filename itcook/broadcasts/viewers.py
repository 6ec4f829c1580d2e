"""LiveViewers: how many users watch a broadcast (joined to ``live:<id>``) over all processes.

Each process keeps, in the cluster store's room ``live-viewers:<id>``, one member: the ids of
its users on the channel (refreshed every ``REFRESH`` s, gone ``TTL`` s after its process died).
The process that changed a room publishes the room's count if it differs from the last one
published (the member ``=published``), under the lock ``live-viewers:<id>`` held for a second:
at most one LiveViewers per second per broadcast; a process refused the lock tries again on its
next tick.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask

from itcook.extensions import realtime
from itcook.realtime.events import Event

log = logging.getLogger(__name__)

TTL, REFRESH = 30.0, 10.0
PUBLISHED = "=published"
#: The marker outlives the members: a count is published again only when it changed.
PUBLISHED_TTL = 86400.0


def _room(live_id: int) -> str:
    return f"live-viewers:{live_id}"


class Viewers:
    """This process's watchers per broadcast, as last written to the cluster store."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.reported: dict[int, frozenset[int]] = {}
        self.refreshed: dict[int, float] = {}
        self.pending: set[int] = set()  # changed, but the count is not published yet

    @property
    def state(self) -> Any:
        return realtime.state(self.app)

    def local(self) -> dict[int, frozenset[int]]:
        """live id -> the users of this process on ``live:<id>`` (live or catching up)."""
        hub = self.state.hub
        found: dict[int, frozenset[int]] = {}
        for index in (hub.channels, hub.replaying):
            for channel, conns in list(index.items()):
                if channel.startswith("live:") and conns:
                    live_id = int(channel[5:])
                    found[live_id] = found.get(live_id, frozenset()) | {c.user_id for c in conns}
        return found

    def _write(self, live_id: int, users: frozenset[int]) -> dict[str, str]:
        value = json.dumps(sorted(users)) if users else None
        _, members = self.state.cluster.room_update(_room(live_id), self.state.process_id, value, TTL)
        self.reported[live_id] = users
        self.refreshed[live_id] = time.monotonic()
        if not users:
            self.reported.pop(live_id, None)
            self.refreshed.pop(live_id, None)
        return members

    @staticmethod
    def _union(members: dict[str, str]) -> set[int]:
        users: set[int] = set()
        for member, value in members.items():
            if not member.startswith("="):
                users.update(json.loads(value))
        return users

    def watching(self, live_id: int) -> set[int]:
        """Who watches ``live_id`` now, over all processes."""
        return self._union(self._write(live_id, self.local().get(live_id, frozenset())))

    def tick(self) -> bool:
        """Report this process's changes and publish the counts that changed; True if busy."""
        now, local = time.monotonic(), self.local()
        for live_id in set(local) | set(self.reported) | self.pending:
            users = local.get(live_id, frozenset())
            changed = users != self.reported.get(live_id, frozenset())
            stale = users and now - self.refreshed.get(live_id, 0.0) >= REFRESH
            if not (changed or stale or live_id in self.pending):
                continue
            try:
                self._publish(live_id, self._write(live_id, users))
            except Exception:  # the store is down: counts are best effort, retried next tick
                log.warning("live viewers: cannot update live:%s", live_id, exc_info=True)
                self.pending.add(live_id)
        return bool(local or self.pending)

    def _publish(self, live_id: int, members: dict[str, str]) -> None:
        count = len(self._union(members))
        published = members.get(PUBLISHED)
        if (published is None and count == 0) or published == str(count):
            self.pending.discard(live_id)
            return
        if not self.state.cluster.try_lock(_room(live_id), 1.0):
            self.pending.add(live_id)
            return
        self.pending.discard(live_id)
        self.state.cluster.room_update(_room(live_id), PUBLISHED, str(count), PUBLISHED_TTL)
        self.state.publish_now(Event(type="LiveViewers", channel=f"live:{live_id}",
                                     data={"live_id": live_id, "count": count}, durable=False))
