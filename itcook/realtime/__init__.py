"""The real-time plugin: a Flask extension that streams a host's events over WebSocket and SSE.

It imports nothing of its host. The host hands ``init_app`` its database (a Flask-SQLAlchemy
instance or an engine), how to verify a bearer token and load a principal, the ``<kind>:<key>``
channels it has (``register_channel``), and publishes events of any type (``publish``).
See docs/plugin.md.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from flask import Flask, current_app
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from itcook.realtime.auth import (
    Authenticator,
    Credential,
    Principal,
    jwt_authenticator,
)
from itcook.realtime.channels import Authorizer, KeyParser, int_key
from itcook.realtime.connection import Connection as Stream
from itcook.realtime.errors import RealtimeError
from itcook.realtime.events import CLOSE_USER_REVOKED, Event
from itcook.realtime.periodic import Periodic
from itcook.realtime.state import FrameHandler, RealtimeState

__all__ = ["Credential", "Principal", "Realtime", "RealtimeError", "RealtimeState", "int_key",
           "jwt_authenticator"]

#: The keyword arguments of ``init_app`` that are not settings.
_HOOKS = ("db", "engine", "metadata", "authenticate", "principal_loader", "active_users", "schedule")


def _default_authenticator() -> Authenticator | None:
    try:
        return jwt_authenticator()
    except ImportError:  # flask-jwt-extended is not installed: the host passes its own
        return None


def _trusted(user_id: Any) -> Principal:
    # Without a loader every verified id is an active principal named after itself.
    return Principal(user_id, str(user_id))


class Realtime:
    """Flask extension: ``Realtime(app, **options)`` or ``Realtime(**options).init_app(app)``.

    Options are ``init_app``'s keyword arguments; given to both, ``init_app``'s win.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, **options: Any) -> None:
        """Mount the plugin's routes on ``app`` and declare its tables.

        ``db``: the host's Flask-SQLAlchemy instance (an event published inside a request joins
        its ``db.session`` transaction), or ``engine``: a SQLAlchemy engine. The tables go into
        ``metadata`` (default: ``db.metadata``, else a ``MetaData`` of the plugin's own, see
        ``metadata()``). ``authenticate(token) -> Credential`` verifies a bearer token
        (default: flask-jwt-extended access tokens, if installed). ``principal_loader(id)``
        returns the active ``Principal`` or None (default: every verified id is one);
        ``active_users(ids)`` the active ones among many, with their sessions.
        ``schedule(name, interval, fn)``: the host's job runner takes the periodic jobs (log
        prune, outbox relay); without it
        ``start`` runs them. Other keywords are settings (``heartbeat_interval=10``;
        docs/plugin.md).
        """
        from itcook.realtime import settings as plugin_settings
        from itcook.realtime.auth import define_ticket_table
        from itcook.realtime.counts import define_day_table
        from itcook.realtime.errors import register_error_handlers
        from itcook.realtime.history import define_tables
        from itcook.realtime.monitor import mount_root_metrics
        from itcook.realtime.outbox import define_outbox_table
        from itcook.realtime.signals import request_refused
        from itcook.realtime.views import bp, count_http_refusal

        options = {**self.options, **options}
        hooks = {name: options.pop(name, None) for name in _HOOKS}
        config = plugin_settings.read(app.config, options)
        db, engine = hooks["db"], hooks["engine"]
        if (db is None) == (engine is None):
            raise TypeError("Realtime.init_app needs the host's database: db=<Flask-SQLAlchemy> "
                            "or engine=<SQLAlchemy engine>")
        metadata = hooks["metadata"] or (db.metadata if db is not None else MetaData())
        tables = {"events": define_tables(metadata), "outbox": define_outbox_table(metadata),
                  "tickets": define_ticket_table(metadata), "days": define_day_table(metadata)}
        auth = hooks["authenticate"] or _default_authenticator()
        state = RealtimeState(app, config, tables, db=db, engine=engine, authenticate=auth)
        state.principal_loader = hooks["principal_loader"] or _trusted
        if hooks["active_users"] is not None:
            state.active_users = hooks["active_users"]
        app.extensions["realtime"] = state
        if "realtime" not in app.blueprints:
            app.register_blueprint(bp, url_prefix=config["url_prefix"])
        register_error_handlers(app, config["url_prefix"])
        request_refused.connect(count_http_refusal, sender=app, weak=False)
        if config["root_metrics"]:
            mount_root_metrics(app)
        # Retention: one periodic job prunes the log (and expired tickets); off when 0.
        # The outbox relay: at start, then periodically, once per cluster (the broker's lock).
        jobs = (("realtime-log-prune", config["prune_interval"], state.prune),
                ("realtime-outbox-relay", config["outbox_interval"], state.relay))
        runner = hooks["schedule"]
        if runner is None:
            state.periodic = Periodic(app, state.cluster.try_lock)
            runner = state.periodic.add
        for name, interval, fn in jobs:
            runner(name, interval, fn)

    # -- the app's hooks --------------------------------------------------------------------
    @staticmethod
    def state(app: Flask | None = None) -> RealtimeState:
        """The plugin's state for ``app`` (default: the current app)."""
        target = app if app is not None else current_app
        return target.extensions["realtime"]  # type: ignore[no-any-return]

    @staticmethod
    def metadata(app: Flask | None = None) -> MetaData:
        """The ``MetaData`` holding the plugin's tables (``metadata(app).create_all(engine)``)."""
        return Realtime.state(app).metadata

    def start(self, app: Flask | None = None) -> None:
        """Start streaming (broker subscription, dispatcher, ticker) and the periodic jobs
        the plugin runs itself. Streams start on first use anyway; jobs only here."""
        state = self.state(app)
        state.ensure_started()
        if state.periodic is not None:
            state.periodic.start()

    def shutdown(self, app: Flask | None = None) -> None:
        """Close every stream (1001), refuse new ones, stop the greenlets and the jobs."""
        state = self.state(app)
        if state.periodic is not None:
            state.periodic.stop()
        state.shutdown()

    def register_channel(self, app: Flask, prefix: str, authorize: Authorizer,
                         denied_code: str = "channel_not_found", key: KeyParser = int_key) -> None:
        """Allow ``<prefix>:<key>`` channels where ``authorize(user_id, key(raw))`` is true.

        ``key`` parses the part after the colon: ``int_key`` (row ids, the default) or ``str``
        (any safe key: letters, digits, ``.``, ``_``, ``~``, ``-``).
        """
        self.state(app).register_channel(prefix, authorize, denied_code, key)

    def register_frame(self, app: Flask, frame_type: str, handler: FrameHandler,
                       on_disconnect: Callable[[Stream], None] | None = None,
                       max_bytes: int | None = None) -> None:
        """Hand client frames of ``frame_type`` to ``handler(principal, connection, frame)``
        (it raises ``ProtocolError`` for a bad one: an Error frame); ``on_disconnect(connection)``
        runs when a WebSocket connection ends. ``max_bytes``: a larger size limit for this type
        than ``max_message_bytes`` (the limit of every other frame; a smaller one changes nothing)."""
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)
                                      or max_bytes < 1):
            raise ValueError(f"max_bytes of {frame_type!r} must be a positive int, not {max_bytes!r}")
        state = self.state(app)
        state.frame_handlers[frame_type] = handler
        # Only limits above the general one are kept: the general one holds for the others.
        if max_bytes is not None and max_bytes > state.config["max_message_bytes"]:
            state.frame_limits[frame_type] = max_bytes
        else:
            state.frame_limits.pop(frame_type, None)
        if on_disconnect is not None and on_disconnect not in state.disconnect_hooks:
            state.disconnect_hooks.append(on_disconnect)

    # -- the service API ------------------------------------------------------------------------
    def publish(self, channel: str, event_type: str, data: dict[str, Any], *, durable: bool = True,
                exclude_user: Any = None, app: Flask | None = None) -> Event:
        """Publish ``event_type`` (any type) on ``channel`` (``community``, ``system``,
        ``user:<id>``, ``<kind>:<key>``): durable ones are logged with an id and replayed on
        resume; inside the host's ``db.session`` transaction they go out after its commit."""
        event = Event(type=event_type, channel=channel, data=data, exclude_user=exclude_user,
                      durable=durable)
        return self.state(app).publish_event(event)

    def purge(self, session: Session | Connection, channels: Collection[str],
              community_posts: Collection[int] = (), author: int | None = None,
              about: tuple[str, str, Collection[int]] | None = None, app: Flask | None = None) -> int:
        """Delete, in the caller's transaction, the logged events of ``channels``, the
        ``community`` events of ``community_posts``, what ``author`` wrote on post and group
        channels and (``about``: type, data field, ids) the events of a type naming those ids:
        call it where they are deleted, and ``forget_recent`` after the commit."""
        from itcook.realtime.history import purge

        return purge(session, self.state(app).tables["events"], channels, community_posts, author, about)

    def forget_recent(self) -> None:
        """After a purge is committed: every process drops the purged events it holds in memory
        (its whole window of recent events; resumes read the log until it fills again)."""
        self.state().forget_recent()

    def revoke(self, channel: str, user_id: Any = None) -> None:
        """Take ``user_id``'s connections (everyone's if None) off ``channel`` in every process,
        at once: each is sent ``Unsubscribed`` with ``reason: "access_revoked"``."""
        self.state().revoke(channel, user_id)

    def disconnect_user(self, user_id: Any, code: int = CLOSE_USER_REVOKED) -> None:
        """Close every live connection of ``user_id`` (in every process)."""
        self.state().disconnect_user(user_id, code)
