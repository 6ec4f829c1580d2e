"""The ``Signal`` client frame: WebRTC offers, answers and ICE candidates between two people
of one call, relayed to the addressee's connections on any process (through the broker, never
the durable log).

``call_id`` is a call's id, or ``"<scope>:<key>"`` for a scope another domain registered
(``register_scope``: live broadcasts use ``"live:<id>"``). Refusals are ``Error`` frames with
these codes (docs/calls.md): ``invalid_field`` (what is wrong is in ``field``), ``missing_field``,
``signal_too_big`` (``data`` over 64 KiB), ``not_in_call`` (sender and ``to`` are not both in it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from itcook.realtime import Principal
from itcook.realtime.connection import Connection
from itcook.realtime.dbapi import PooledStatements
from itcook.realtime.events import Event, ProtocolError, dumps
from itcook.validation import MAX_ID

#: The largest ``data`` of one Signal, encoded: an SDP offer is 3-10 KB, rarely more.
MAX_DATA_BYTES = 65536
KINDS = frozenset({"offer", "answer", "candidate"})
#: ``may_signal(from_user, to_user, key)``: whether the two may signal each other in ``key``.
MaySignal = Callable[[int, int, str], bool]

_SCOPES: dict[str, MaySignal] = {}
_SCOPED = re.compile(r"^([a-z][a-z0-9_]{0,31}):([A-Za-z0-9._~-]{1,64})$")


def register_scope(prefix: str, may_signal: MaySignal) -> None:
    """Let ``call_id = "<prefix>:<key>"`` relay between users for whom ``may_signal`` says yes
    (it runs in an app context, on every such frame)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", prefix):
        raise ValueError(f"a scope prefix is lowercase letters, digits and _: {prefix!r}")
    _SCOPES[prefix] = may_signal


def unregister_scope(prefix: str) -> None:
    """Stop relaying ``"<prefix>:<key>"`` call ids."""
    _SCOPES.pop(prefix, None)


def _user_id(frame: dict[str, Any], name: str) -> int:
    value = frame.get(name)
    if value is None:
        raise ProtocolError("missing_field", f"{name} is required", field=name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ProtocolError("invalid_field", f"{name} must be a positive integer", field=name)
    return value


def _call_id(frame: dict[str, Any]) -> int | tuple[str, str]:
    value = frame.get("call_id")
    if value is None:
        raise ProtocolError("missing_field", "call_id is required", field="call_id")
    if isinstance(value, str) and (match := _SCOPED.match(value)) and match[1] in _SCOPES:
        return match[1], match[2]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ProtocolError("invalid_field", "call_id must be a call's id (a positive integer) or "
                            f"one of {sorted(f'{p}:<id>' for p in _SCOPES)}", field="call_id")
    return value


def parse(frame: dict[str, Any]) -> tuple[int | tuple[str, str], int, str, dict[str, Any]]:
    """``(call, to, kind, data)`` of a Signal frame, or ``ProtocolError``."""
    call = _call_id(frame)
    to = _user_id(frame, "to")
    kind = frame.get("kind")
    if kind is None:
        raise ProtocolError("missing_field", "kind is required", field="kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ProtocolError("invalid_field", "kind must be offer, answer or candidate", field="kind")
    data = frame.get("data")
    if data is None:
        raise ProtocolError("missing_field", "data is required", field="data")
    if not isinstance(data, dict):
        raise ProtocolError("invalid_field", "data must be a JSON object", field="data")
    if len(dumps(data)) > MAX_DATA_BYTES:
        raise ProtocolError("signal_too_big", f"data is limited to {MAX_DATA_BYTES} bytes", field="data")
    return call, to, kind, data


_BOTH_IN = ("SELECT count(*) FROM call_participants p JOIN calls c ON c.id = p.call_id "
            "WHERE p.call_id = ? AND c.ended_at IS NULL AND p.user_id IN (?, ?)")


class Relay:
    """The Signal handler of one app."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _may(self, call: int | tuple[str, str], sender: int, to: int) -> bool:
        from itcook.extensions import db

        with self.app.app_context():
            if isinstance(call, tuple):
                return bool(_SCOPES[call[0]](sender, to, call[1]))
            # Every frame asks the database: a participant who left or was removed is refused
            # at once. On the pool's DB-API connection, not the ORM (the relay's hot path).
            with PooledStatements(db.engine) as sql:
                return int(sql.run(_BOTH_IN, (call, sender, to)).fetchone()[0]) == 2

    def on_signal(self, principal: Principal, conn: Connection, frame: dict[str, Any]) -> None:
        """Relay one Signal frame to ``to``'s connections, or raise ``ProtocolError``."""
        call, to, kind, data = parse(frame)
        sender = int(principal.user_id)
        if to == sender or not self._may(call, sender, to):
            raise ProtocolError("not_in_call", "you and the addressee must both be in this call",
                                call_id=frame["call_id"], to=to)
        call_id: int | str = call if isinstance(call, int) else f"{call[0]}:{call[1]}"
        state = self.app.extensions["realtime"]
        state.publish_now(Event(type="Signal", channel=f"user:{to}", durable=False,
                                data={"call_id": call_id, "from": sender, "kind": kind, "data": data}))
