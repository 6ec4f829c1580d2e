"""The calls domain in the real-time plugin: the ``call:<id>`` channel kind (members of the
call's group), the ``Signal`` frame, dropping a removed member at once, and the away check.
Its events (CallStarted, CallParticipantJoined, CallParticipantLeft, CallEnded) are rows of the
table in ``itcook/live.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from itcook import jobs, signals
from itcook.calls import away
from itcook.calls.ice import check_config
from itcook.calls.relay import MAX_DATA_BYTES, Relay
from itcook.extensions import db, realtime
from itcook.validation import is_row_id

#: A Signal frame: its ``data`` and the envelope around it.
MAX_FRAME_BYTES = MAX_DATA_BYTES + 1024


def may_listen(user_id: int, call_id: int) -> bool:
    """The ``call:<id>`` channel's authorizer: members of the call's group."""
    from itcook.groups import is_member
    from itcook.models import Call

    call = db.session.get(Call, call_id) if is_row_id(call_id) else None
    return call is not None and call.group_id is not None and is_member(call.group_id, user_id)


def member_removed(sender: Flask, *, group_id: int, user_id: int, **_: Any) -> None:
    """Who lost access to a group is out of its live call at once, in the same transaction."""
    from itcook.calls.services import drop_member

    drop_member(group_id, user_id)


def group_deleted(sender: Flask, **_: Any) -> None:
    """A deleted group's calls go with it (their listeners are taken off)."""
    from itcook.calls.services import forget_orphans

    forget_orphans()


def connect(app: Flask) -> None:
    """Register ``call:<id>``, the Signal frame, the receivers and the away job for ``app``."""
    check_config(app.config)
    realtime.register_channel(app, "call", may_listen, denied_code="forbidden_channel")
    relay = Relay(app)
    app.extensions["calls.relay"] = relay
    realtime.register_frame(app, "Signal", relay.on_signal, max_bytes=MAX_FRAME_BYTES)
    signals.group_member_removed.connect(member_removed, sender=app, weak=False)
    signals.group_deleted.connect(group_deleted, sender=app, weak=False)
    seconds = float(app.config["CALL_AWAY_SECONDS"])
    jobs.register(app, away.JOB, away.interval(seconds), lambda: away.check(app))
