"""Glue between the domains and the real-time plugin: the only module that knows both."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from itcook import jobs, live
from itcook.auth.services import SESSION_CLAIM
from itcook.extensions import db, realtime
from itcook.i18n import force_locale, gettext, user_language
from itcook.realtime import Credential, Principal, RealtimeError, jwt_authenticator
from itcook.realtime import signals as realtime_signals
from itcook.realtime.dbapi import PooledStatements
from itcook.realtime.events import Event
from itcook.validation import is_row_id

_verify_jwt = jwt_authenticator(session_claim=SESSION_CLAIM)


def _authenticate(token: str) -> Credential:
    # IT Cook's subjects are user ids as strings ("7"); the plugin's principals are ints.
    credential = _verify_jwt(token)
    try:
        return credential._replace(user_id=int(credential.user_id))
    except (TypeError, ValueError):
        # As on the REST routes: a subject that names no user is no active user.
        raise RealtimeError(401, "user_inactive",
                            gettext("the user of this credential does not exist")) from None

log = logging.getLogger(__name__)


def _principal(user_id: int) -> Principal | None:
    if not is_row_id(user_id):  # a forged subject: no such id, and wider ones overflow
        return None
    # This runs on every handshake. On the pool's DB-API connection the query costs ~15 µs
    # (SQLite); through SQLAlchemy's execution (statement caching, result objects) ~160 µs,
    # an ORM session twice that: a tenth of a reconnect storm's CPU went here.
    with PooledStatements(db.engine) as sql:
        row = sql.run("SELECT display_name, role, session_key FROM users WHERE id = ? AND is_active",
                      (user_id,)).fetchone()
    return Principal(user_id, row[0], is_admin=row[1] == "admin", session=row[2]) if row else None


def _active_users(user_ids: list[int]) -> dict[int, str | None]:
    # Every live connection's user, every recheck interval: one query for the lot.
    from sqlalchemy import select

    from itcook.models import User

    ids = [i for i in user_ids if is_row_id(i)]
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.session_key).where(
        User.id.in_(ids), User.is_active)).all())


def _post_channel(user_id: int, post_id: int) -> bool:
    # Every user may follow the comments and typing of any existing post.
    from itcook.community.services import post_exists

    return post_exists(post_id)


def _group_channel(user_id: int, group_id: int) -> bool:
    # Only members hear a group; losing membership revokes the channel (itcook/live.py).
    from itcook.groups import is_member

    return is_member(group_id, user_id)


def _addressee(event: Event) -> int | None:
    """The user of a personal event (``user:<id>``), else None."""
    return int(event.channel[5:]) if event.channel.startswith("user:") else None


def _file(sender: Flask, *, event: Event, **_: Any) -> None:
    """A personal event goes into its user's inbox, in the transaction that writes the event."""
    user_id = _addressee(event)
    if user_id is not None and event.id is not None:
        from itcook import notifications

        notifications.record(user_id, event.id, event.type, event.data, event.ts)


def _push(sender: Flask, *, event: Event, **_: Any) -> None:
    """A published personal notification goes to Web Push if its user is away (best effort)."""
    from itcook import notifications, push

    user_id, event_id, event_type, data = _addressee(event), event.id, event.type, event.data
    if user_id is None or event_id is None or not notifications.is_notification(event_type):
        return
    try:
        with sender.app_context():
            from sqlalchemy import select

            from itcook.models import Notification

            if not push.services.has_targets(user_id):
                return  # most users never turn push on: nothing to read or write for them
            # Its own connection: this runs in the session's after-commit hook, where the
            # session cannot run SQL.
            with db.engine.connect() as conn:
                if conn.execute(select(Notification.id).where(Notification.id == event_id)).first() is None:
                    return  # not filed: a repeat of one filed the same day (notifications.DEDUPED)
                language = user_language(user_id, conn)  # no request to answer (docs/i18n.md)
            with force_locale(language):
                title, body = notifications.describe(event_type, data)
            push.notify(sender, user_id, event_id, event_type, title, body,
                        url=notifications.texts.link(event_type, data))
    except Exception:  # the event is delivered live and in the inbox; a push must not fail it
        log.exception("could not push event %s to user %s", event_id, user_id)


def init_realtime(app: Flask) -> None:
    """Register the plugin; tell it about users and ``post:<id>`` / ``group:<id>`` channels;
    file its personal events in the inbox as they are logged, push them once published."""
    realtime.init_app(app, db=db, authenticate=_authenticate, principal_loader=_principal,
                      active_users=_active_users,
                      schedule=lambda name, interval, fn: jobs.register(app, name, interval, fn))
    live.connect(app, realtime)
    realtime.register_channel(app, "post", _post_channel, denied_code="channel_not_found")
    realtime.register_channel(app, "group", _group_channel, denied_code="forbidden_channel")
    from itcook.plans import events as plan_events
    from itcook.plans import presence as plan_presence

    plan_events.connect(app)  # the plan:<id> channels
    plan_presence.connect(app)  # PlanFocus / PlanBlur
    from itcook.broadcasts import events as live_events

    live_events.connect(app)  # live:<id>, React, the pulse, the "live:<id>" Signal scope
    from itcook.calls import events as call_events

    call_events.connect(app)  # the call:<id> channels, Signal frames, the away check
    realtime_signals.event_logged.connect(_file, sender=app, weak=False)
    realtime_signals.event_published.connect(_push, sender=app, weak=False)
    state = realtime.state(app)
    app.extensions["push"].sender.is_online = state.is_user_online
    # The cluster store holds the lock: a periodic job (expiry scan, log pruning) runs once
    # per interval across every worker, not once per worker.
    jobs.set_lock(app, state.cluster.try_lock)
