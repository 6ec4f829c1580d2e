"""Web Push: VAPID keys, browser subscriptions, preferences, and the sender of pushes."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask

from itcook.push.sender import Job, PushSender
from itcook.push.vapid import load_vapid

bp = Blueprint("push", __name__, url_prefix="/api/v1/push")
log = logging.getLogger(__name__)


class PushState:
    """``app.extensions["push"]``: the VAPID key (loaded on first use) and the sender."""

    _UNSET: Any = object()

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._vapid: Any = self._UNSET
        self.sender = PushSender(app, self.vapid)

    def vapid(self) -> Any:
        """The VAPID signer, or None when Web Push is not configured (production, no key)."""
        if self._vapid is self._UNSET:
            cfg = self.app.config
            self._vapid = load_vapid(cfg["PUSH_VAPID_PRIVATE_KEY"], self.app.instance_path,
                                     cfg["ENV"] == "production")
            if self._vapid is None:
                log.warning("Web Push is off: set ITCOOK_PUSH_VAPID_PRIVATE_KEY to turn it on")
        return self._vapid


def init_app(app: Flask) -> None:
    """Keep the push state on the app; a configured key that does not parse stops the start."""
    subject = str(app.config["PUSH_VAPID_SUBJECT"])
    if not subject.startswith(("mailto:", "https://")):
        raise RuntimeError("ITCOOK_PUSH_VAPID_SUBJECT: must be a mailto: or https: URL")
    if app.config["ENV"] == "production":
        for key in ("PUSH_ALLOW_HTTP", "PUSH_ALLOW_PRIVATE_ADDRESSES"):
            if app.config[key]:
                raise RuntimeError(f"ITCOOK_{key}: for tests only, refused with ITCOOK_ENV=production")
    state = PushState(app)
    app.extensions["push"] = state
    if app.config["PUSH_VAPID_PRIVATE_KEY"]:
        state.vapid()


def state(app: Flask) -> PushState:
    """The push state of ``app``."""
    return app.extensions["push"]  # type: ignore[no-any-return]


def notify(app: Flask, user_id: int, event_id: int, event_type: str, title: str, body: str,
           url: str = "/") -> bool:
    """Queue a push of a notification to ``user_id`` (app context), who has subscriptions
    (``services.has_targets``: the caller asks first, before it writes the text)."""
    return state(app).sender.submit(Job(user_id, event_id, event_type, title, body, url=url))


def stop(app: Flask) -> None:
    """Stop the sender's workers (``stop_services``)."""
    push = app.extensions.get("push")
    if push is not None:
        push.sender.stop()


from itcook.push import routes  # noqa: E402,F401  (routes attach to bp)

__all__ = ["Job", "PushSender", "PushState", "bp", "init_app", "notify", "state", "stop"]
