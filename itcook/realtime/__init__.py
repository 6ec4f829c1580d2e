"""The real-time plugin: a Flask extension that turns signals into events and streams them.

It knows nothing of the domain blueprints beyond ``itcook.signals``; the app tells it how to
load a connecting user and which ``<prefix>:<id>`` channels exist (``register_channel``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from itcook import signals
from itcook.realtime.auth import ActiveUsers, Principal, PrincipalLoader
from itcook.realtime.connection import Connection as Stream
from itcook.realtime.events import CLOSE_USER_REVOKED, Event
from itcook.realtime.state import Authorizer, FrameHandler, RealtimeState

__all__ = ["Principal", "Realtime", "RealtimeState"]



class Realtime:
    """Flask extension: ``Realtime(app)`` or ``realtime.init_app(app)``."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the blueprint at ``/api/v1/realtime``, the tables and the signal bridge."""
        from itcook.extensions import db
        from itcook.realtime import bridge
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
        bridge.connect(app, self)
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

    def register_frame(self, app: Flask, frame_type: str, handler: FrameHandler,
                       on_disconnect: Callable[[Stream], None] | None = None) -> None:
        """Hand client frames of ``frame_type`` to ``handler(principal, connection, frame)``
        (it raises ``ProtocolError`` for a bad one: an Error frame); ``on_disconnect(connection)``
        runs when a WebSocket connection ends."""
        state = self.state(app)
        state.frame_handlers[frame_type] = handler
        if on_disconnect is not None and on_disconnect not in state.disconnect_hooks:
            state.disconnect_hooks.append(on_disconnect)

    # -- the service API (the seed's notify_* and a generic publish) -------------------------
    def publish(self, channel: str, event_type: str, data: dict[str, Any], *,
                exclude_user: int | None = None, app: Flask | None = None) -> Event:
        """Publish ``event_type`` on ``channel`` (``community``, ``system``, ``user:<id>``, ``post:<id>``)."""
        event = Event(type=event_type, channel=channel, data=data, exclude_user=exclude_user)
        return self.state(app).publish_event(event)

    def notify_new_post(self, post_id: int, author_id: int, author_name: str, content: str,
                        **extra: Any) -> Event:
        """NewCommunityPost to ``community``."""
        return self.publish("community", "NewCommunityPost", {
            "post_id": post_id, "author_id": author_id, "author_name": author_name,
            "content": content, **extra})

    def notify_post_liked(self, author_id: int, post_id: int, user_id: int, user_name: str,
                          likes_count: int) -> Event | None:
        """PostLiked to the post's author (not for a like of one's own post)."""
        if author_id == user_id:
            return None
        return self.publish(f"user:{author_id}", "PostLiked", {
            "post_id": post_id, "user_id": user_id, "user_name": user_name,
            "likes_count": likes_count})

    def notify_new_comment(self, post_author_id: int, comment_id: int, post_id: int,
                           author_id: int, author_name: str, content: str,
                           **extra: Any) -> list[Event]:
        """NewComment to ``post:<id>`` and to the post's author (unless they wrote it)."""
        data = {"comment_id": comment_id, "post_id": post_id, "author_id": author_id,
                "author_name": author_name, "content": content, **extra}
        events = [self.publish(f"post:{post_id}", "NewComment", data)]
        if post_author_id != author_id:
            events.append(self.publish(f"user:{post_author_id}", "NewComment", data))
        return events

    def notify_new_follower(self, user_id: int, follower_id: int, follower_name: str) -> Event:
        """NewFollower to the followed user."""
        return self.publish(f"user:{user_id}", "NewFollower",
                            {"follower_id": follower_id, "follower_name": follower_name})

    def notify_expiring_items(self, user_id: int, items: list[dict[str, Any]], days: int) -> Event:
        """ExpiringItems to the owner of the items."""
        return self.publish(f"user:{user_id}", "ExpiringItems", {"items": items, "days": days})

    def notify_goal_achieved(self, user_id: int, goal_id: int, title: str, **extra: Any) -> Event:
        """GoalAchieved to the goal's owner."""
        return self.publish(f"user:{user_id}", "GoalAchieved",
                            {"goal_id": goal_id, "title": title, **extra})

    def notify_recipe_generated(self, user_id: int, job_id: str, recipe_id: int,
                                title: str) -> Event:
        """RecipeGenerated to the user who asked for it."""
        return self.publish(f"user:{user_id}", "RecipeGenerated",
                            {"job_id": job_id, "recipe_id": recipe_id, "title": title})

    def notify_recipe_failed(self, user_id: int, job_id: str, error: str) -> Event:
        """RecipeFailed to the user who asked for it."""
        return self.publish(f"user:{user_id}", "RecipeFailed", {"job_id": job_id, "error": error})

    def notify_system(self, title: str, message: str, level: str = "info",
                      user_id: int | None = None) -> Event:
        """SystemNotification to everyone (``system``) or to one user (personal)."""
        channel = "system" if user_id is None else f"user:{user_id}"
        return self.publish(channel, "SystemNotification",
                            {"title": title, "message": message, "level": level})

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
