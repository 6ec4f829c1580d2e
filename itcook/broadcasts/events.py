"""The broadcasts in the real-time plugin: the ``live:<id>`` channel kind, the ``React`` frame,
the once-a-second pulse and the peer-to-peer ``Signal`` scope. Their durable events
(LiveStarted, LiveEnded, LiveStep, LiveChat, LiveChatDeleted) are rows of ``itcook/live.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from itcook import signals
from itcook.broadcasts.media import may_signal, revoke_user
from itcook.broadcasts.pulse import Pulse
from itcook.calls.relay import register_scope
from itcook.extensions import realtime


def _may_watch(pulse: Pulse) -> Callable[[int, int], bool]:
    def may_watch(user_id: int, live_id: int) -> bool:
        """Any user may join a broadcast that exists (live, scheduled, or ended: still readable)."""
        from itcook.extensions import db
        from itcook.models import LiveBroadcast

        if db.session.get(LiveBroadcast, live_id) is None:
            return False
        pulse.wake()  # the viewer count follows
        return True

    return may_watch


def user_deactivated(sender: Flask, user_id: int, reason: str = "", **_: Any) -> None:
    """A disabled account's media server tokens are revoked at once, not when its broadcasts end
    (a deleted one's went in ``services.forget_user``, with the rows they belonged to)."""
    if reason != "deleted":
        revoke_user(sender, user_id)


def connect(app: Flask) -> None:
    """Register ``live:<id>``, ``React`` and the ``"live:<id>"`` Signal scope for ``app``."""
    pulse = app.extensions["broadcasts.pulse"] = Pulse(app)
    realtime.register_channel(app, "live", _may_watch(pulse), denied_code="channel_not_found")
    realtime.register_frame(app, "React", pulse.reactions.on_react)
    register_scope("live", may_signal)
    signals.user_deactivated.connect(user_deactivated, sender=app, weak=False)
