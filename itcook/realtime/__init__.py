"""The real-time plugin: a Flask extension that publishes events and streams them.

It knows nothing of the domain blueprints: the host publishes its events (IT Cook turns its
signals into them in ``itcook/live.py``) and tells it how to load a connecting user and which
``<prefix>:<id>`` channels exist (``register_channel``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from itcook import signals
from itcook.realtime.auth import ActiveUsers, Principal, PrincipalLoader
from itcook.realtime.events import CLOSE_USER_REVOKED, Event
from itcook.realtime.state import Authorizer, RealtimeState

__all__ = ["Principal", "Realtime", "RealtimeState"]



class Realtime:
    """Flask extension: ``Realtime(app)`` or ``realtime.init_app(app)``."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the blueprint at ``/api/v1/realtime`` and the tables."""
        from itcook.extensions import db
        from itcook.realtime.auth import define_ticket_table
        from itcook.realtime.counts import define_day_table
        from itcook.realtime.history import define_tables
        from itcook.realtime.outbox import define_outbox_table, install_session_hooks
        from itcook.realtime.views import bp, count_http_refusal, sock
        from itcook.realtime.websocket import SERVER_OPTIONS

        config = {**app.config.get_namespace("REALTIME_"),
                  "broker_url": app.config.get("BROKER_URL", "memory://"),
                  "broker_prefix": app.config.get("BROKER_PREFIX", "itcook")}
        tables = {"events": define_tables(db.metadata), "outbox": define_outbox_table(db.metadata),
                  "tickets": define_ticket_table(db.metadata), "days": define_day_table(db.metadata)}
        install_session_hooks()
        state = RealtimeState(app, config, tables)
        app.extensions["realtime"] = state
        app.config.setdefault("SOCK_SERVER_OPTIONS", SERVER_OPTIONS)
        if "realtime" not in app.blueprints:
            app.register_blueprint(bp)
        sock.init_app(app)
        signals.request_refused.connect(count_http_refusal, sender=app, weak=False)
        from itcook import jobs

        # Retention: one periodic job prunes the log (and expired tickets); off when 0.
        jobs.register(app, "realtime-log-prune", config["prune_interval"], state.prune)
        # The outbox relay: at start, then periodically, once per cluster (the jobs' lock).
        jobs.register(app, "realtime-outbox-relay", config["outbox_interval"], state.relay)

    # -- the app's hooks --------------------------------------------------------------------
    @staticmethod
    def state(app: Flask | None = None) -> RealtimeState:
        """The plugin's state for ``app`` (default: the current app)."""
        target = app if app is not None else current_app
        return target.extensions["realtime"]  # type: ignore[no-any-return]

    def set_principal_loader(self, app: Flask, loader: PrincipalLoader,
                             active_users: ActiveUsers | None = None) -> None:
        """Tell the plugin how to turn a user id into an active ``Principal`` (or None), and
        (``active_users``) which of many user ids are still active, in one query."""
        state = self.state(app)
        state.principal_loader = loader
        if active_users is not None:
            state.active_users = active_users

    def register_channel(self, app: Flask, prefix: str, authorize: Authorizer,
                         denied_code: str = "channel_not_found") -> None:
        """Allow ``<prefix>:<id>`` channels where ``authorize(user_id, id)`` is true."""
        self.state(app).register_channel(prefix, authorize, denied_code)

    # -- the service API ------------------------------------------------------------------------
    def publish(self, channel: str, event_type: str, data: dict[str, Any], *, durable: bool = True,
                exclude_user: int | None = None, app: Flask | None = None) -> Event:
        """Publish ``event_type`` on ``channel`` (``community``, ``system``, ``user:<id>``,
        ``post:<id>``...): durable (logged with an id, replayed on resume) unless ``durable=False``."""
        event = Event(type=event_type, channel=channel, data=data, exclude_user=exclude_user,
                      durable=durable)
        return self.state(app).publish_event(event)

    def purge(self, session: Session | Connection, channels: Collection[str],
              community_posts: Collection[int] = (), author: int | None = None,
              app: Flask | None = None) -> int:
        """Delete, in the caller's transaction, the logged events of ``channels``, the
        ``community`` events of ``community_posts`` and what ``author`` wrote on post and group
        channels: call it where they are deleted, and ``forget_recent`` after the commit."""
        from itcook.realtime.history import purge

        return purge(session, self.state(app).tables["events"], channels, community_posts, author)

    def forget_recent(self) -> None:
        """After a purge is committed: every process drops the purged events it holds in memory
        (its whole window of recent events; resumes read the log until it fills again)."""
        self.state().forget_recent()

    def revoke(self, channel: str, user_id: int | None = None) -> None:
        """Take ``user_id``'s connections (everyone's if None) off ``channel`` in every process,
        at once: each is sent ``Unsubscribed`` with ``reason: "access_revoked"``."""
        self.state().revoke(channel, user_id)

    def disconnect_user(self, user_id: int, code: int = CLOSE_USER_REVOKED) -> None:
        """Close every live connection of ``user_id`` (in every process)."""
        self.state().disconnect_user(user_id, code)
