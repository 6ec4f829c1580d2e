"""Glue between the domains and the real-time plugin: the only module that knows both."""

from __future__ import annotations

from flask import Flask

from itcook import jobs
from itcook.extensions import realtime
from itcook.realtime import Principal


def _principal(user_id: int) -> Principal | None:
    from itcook.auth.services import load_active_user

    user = load_active_user(user_id)
    return Principal(user.id, user.display_name) if user is not None else None


def _post_channel(user_id: int, post_id: int) -> bool:
    # Every user may follow the comments and typing of any existing post.
    from itcook.community.services import post_exists

    return post_exists(post_id)


def init_realtime(app: Flask) -> None:
    """Register the plugin and tell it about users and ``post:<id>`` channels."""
    realtime.init_app(app)
    realtime.set_principal_loader(app, _principal)
    realtime.register_channel(app, "post", _post_channel, denied_code="channel_not_found")
    # The broker is the cluster's lock: a periodic job (expiry scan, log pruning) runs once
    # per interval across every worker, not once per worker.
    broker = realtime.state(app).broker
    jobs.set_lock(app, broker.try_lock)
