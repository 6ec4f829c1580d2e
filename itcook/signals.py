"""Every domain signal, in one private namespace.

Each signal is sent *inside* the transaction of the change it announces, before the commit,
with the real app object as sender and keyword arguments that carry everything an event needs.
Receivers connect with ``sender=app``, write in that transaction (``db.session``) and leave
what must wait for the commit to it (the real-time plugin publishes after the commit, and
drops its events with a rollback). The sender commits. This module is the contract between
the domain blueprints and ``itcook/live.py``, whose table turns each signal into its events
(docs/outbox.md).
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace, Signal
from flask import current_app

_signals = Namespace()

#: post_id, author_id, author_name, content, created_at
post_created = _signals.signal("post-created")
#: post_id, post_author_id, user_id, user_name, likes_count
post_liked = _signals.signal("post-liked")
#: comment_id, post_id, post_author_id, author_id, author_name, content, created_at
comment_created = _signals.signal("comment-created")
#: post_id: its likes or comments changed (a like, an unlike, a comment)
post_stats_changed = _signals.signal("post-stats-changed")
#: follower_id, follower_name, followed_id
user_followed = _signals.signal("user-followed")
#: user_id, items (list of {id, name, expires_on, days_left}), days
items_expiring = _signals.signal("items-expiring")
#: user_id, goal_id, title, target_value, unit
goal_achieved = _signals.signal("goal-achieved")
#: user_id, job_id, recipe_id, title
recipe_generated = _signals.signal("recipe-generated")
#: user_id, job_id, error
recipe_failed = _signals.signal("recipe-failed")
#: title, message, level, user_id (None = everyone)
system_notification = _signals.signal("system-notification")
#: user_id, reason ("disabled" or "deleted")
user_deactivated = _signals.signal("user-deactivated")
#: group_id, post_id, author_id, author_name, content, created_at
group_post_created = _signals.signal("group-post-created")
#: group_id, group_name, user_id (the invited user), invited_by_id, invited_by_name
group_invitation_sent = _signals.signal("group-invitation-sent")
#: group_id, user_id, reason ("left" or "removed"): the user lost access to the group
group_member_removed = _signals.signal("group-member-removed")
#: group_id: the group and every membership are gone
group_deleted = _signals.signal("group-deleted")
#: user_id, ids (list, or None), up_to_id (int, or None), unread_count
notifications_read = _signals.signal("notifications-read")
#: offer_id, title, approx_lat, approx_lon, pickup_until, by_id, by_name,
#: recipients (list of {user_id, distance_km}: the opted-in users whose area holds the offer)
nearby_offer_created = _signals.signal("nearby-offer-created")
#: offer_id, offerer_id, by_id, by_name, recipients (list of user ids told of the offer)
nearby_offer_claimed = _signals.signal("nearby-offer-claimed")
#: plan_id, version, by (user id), by_name, op_id, ops (the request's operations), results,
#: entries (the entries they produced: a removed one is {id, removed, version})
plan_updated = _signals.signal("plan-updated")
#: plan_id, name, checked, by (user id)
shopping_item_checked = _signals.signal("shopping-item-checked")

ALL_SIGNALS: tuple[Signal, ...] = (
    post_created, post_liked, comment_created, user_followed, items_expiring,
    goal_achieved, recipe_generated, recipe_failed, system_notification, user_deactivated,
    group_post_created, group_invitation_sent, group_member_removed, group_deleted, notifications_read,
    nearby_offer_created, nearby_offer_claimed, plan_updated, shopping_item_checked,
    post_stats_changed,
)

#: Sent on the real-time plugin's hook (``itcook/live.py``), not by a domain, as a durable event
#: is written, in the transaction of its change: event_id, event_type, channel, user_id (the
#: addressee of a personal event, else None), data, ts. ``itcook/plugins.py`` files personal
#: events in the inbox, in it too.
event_logged = _signals.signal("realtime-event-logged")
#: Sent on the plugin's hook once a durable event went to the broker after its commit (or was
#: relayed after a crash); same arguments. ``itcook/plugins.py`` queues Web Push.
event_published = _signals.signal("realtime-event-published")


def emit(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` with the real app (not the proxy) as sender; call before the commit."""
    signal.send(current_app._get_current_object(), **kwargs)  # type: ignore[attr-defined]

#: Sent by the HTTP layer (``serving.py``, ``errors.py``) when it refuses a request before any
#: view runs: reason ("malformed_request", "header_timeout", "websocket_required"), path (None
#: when no request line was read). The real-time plugin counts the ones aimed at it with its
#: handshake failures (docs/realtime-protocol.md, "Statistics").
from itcook.realtime.signals import request_refused  # noqa: E402,F401  (the plugin's own)
