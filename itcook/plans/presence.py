"""Who is looking at a plan, and at which entry: PlanFocus / PlanBlur -> PlanPresence.

Each focus is one member of the broker's shared room ``plan:<id>`` (one per connection, so two
tabs of one user are two members), kept while its connection lives: a blur or the end of the
connection removes it, and a process refreshes its members every ``REFRESH`` seconds so that
those of a process that died drop out after ``TTL``. Every change publishes the room's whole
list, not durable, with the room's sequence number ``seq``: the broker answers updates in
order, but two processes may publish in the other order, so a client keeps the highest ``seq``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import gevent
from flask import Flask

from itcook.extensions import realtime
from itcook.realtime import Principal
from itcook.realtime.connection import Connection
from itcook.realtime.events import Event, ProtocolError
from itcook.validation import MAX_ID

log = logging.getLogger(__name__)

TTL, REFRESH = 30.0, 10.0


def _id(frame: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ProtocolError("invalid_field", f"{name} must be a positive integer", field=name)
    return value


class PlanPresence:
    """This process's focuses (connection -> plan -> entry) and their rooms in the broker."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.focus: dict[Connection, dict[int, int | None]] = {}
        self.published: dict[int, list[dict[str, Any]]] = {}  # what each room last said, from here
        self._refresher: gevent.Greenlet | None = None

    @property
    def state(self) -> Any:
        return realtime.state(self.app)

    def _member(self, conn: Connection) -> str:
        return f"{self.state.process_id}:{id(conn)}"

    def _update(self, plan_id: int, conn: Connection, value: dict[str, Any] | None,
                always: bool = True) -> None:
        try:
            seq, members = self.state.cluster.room_update(
                f"plan:{plan_id}", self._member(conn), None if value is None else json.dumps(value), TTL)
        except Exception:  # the broker is down: presence is best effort, edits are unaffected
            log.warning("plan presence: cannot update plan:%s", plan_id, exc_info=True)
            return
        users = sorted((json.loads(v) for v in members.values()),
                       key=lambda u: (u["user_id"], u.get("entry_id") or 0))
        if not always and self.published.get(plan_id) == users:
            return
        if users:
            self.published[plan_id] = users
        else:
            self.published.pop(plan_id, None)
        self.state.publish_now(Event(type="PlanPresence", channel=f"plan:{plan_id}",
                                     data={"plan_id": plan_id, "users": users, "seq": seq},
                                     durable=False))

    def on_focus(self, principal: Principal, conn: Connection, frame: dict[str, Any]) -> None:
        """PlanFocus {plan_id, entry_id?}: the plan's editors only (else an Error frame)."""
        plan_id = _id(frame, "plan_id", required=True)
        entry_id = _id(frame, "entry_id", required=False)
        assert plan_id is not None
        self.state.resolve_channel(principal, f"plan:{plan_id}")  # raises forbidden_channel
        self.focus.setdefault(conn, {})[plan_id] = entry_id
        self._start()
        value: dict[str, Any] = {"user_id": principal.user_id, "user_name": principal.name}
        if entry_id is not None:
            value["entry_id"] = entry_id
        self._update(plan_id, conn, value)

    def on_blur(self, principal: Principal, conn: Connection, frame: dict[str, Any]) -> None:
        """PlanBlur {plan_id}: this connection no longer looks at the plan."""
        plan_id = _id(frame, "plan_id", required=True)
        assert plan_id is not None
        held = self.focus.get(conn, {})
        if plan_id in held:
            del held[plan_id]
            if not held:
                self.focus.pop(conn, None)
            self._update(plan_id, conn, None)

    def on_disconnect(self, conn: Connection) -> None:
        """The connection ended: it looks at nothing any more."""
        for plan_id in self.focus.pop(conn, {}):
            self._update(plan_id, conn, None)

    def refresh(self) -> None:
        """Keep this process's members alive; publish a room whose list changed (a dead process's
        members expired)."""
        for conn, plans in list(self.focus.items()):
            for plan_id, entry_id in list(plans.items()):
                value: dict[str, Any] = {"user_id": conn.user_id, "user_name": conn.user_name}
                if entry_id is not None:
                    value["entry_id"] = entry_id
                self._update(plan_id, conn, value, always=False)

    def _start(self) -> None:
        if self._refresher is None:
            self._refresher = gevent.spawn(self._refresh_loop)

    def _refresh_loop(self) -> None:
        while True:
            gevent.sleep(REFRESH)
            try:
                self.refresh()
            except Exception:
                log.exception("plan presence: refresh failed")


def connect(app: Flask) -> None:
    """Handle PlanFocus / PlanBlur on ``app``'s WebSocket connections."""
    presence = PlanPresence(app)
    app.extensions["plans.presence"] = presence
    realtime.register_frame(app, "PlanFocus", presence.on_focus, presence.on_disconnect)
    realtime.register_frame(app, "PlanBlur", presence.on_blur)
