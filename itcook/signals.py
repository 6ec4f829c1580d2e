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
#: live_id, host_id, host_name, title, audience (None: community, then each follower's user id)
live_started = _signals.signal("live-started")
#: live_id
live_ended = _signals.signal("live-ended")
#: live_id, index, text
live_step = _signals.signal("live-step")
#: live_id, message_id, user_id, user_name, text
live_chat = _signals.signal("live-chat")
#: live_id, message_id
live_chat_deleted = _signals.signal("live-chat-deleted")
#: call_id, group_id, started_by (user id), started_by_name
call_started = _signals.signal("call-started")
#: call_id, group_id, user_id, user_name
call_participant_joined = _signals.signal("call-participant-joined")
#: call_id, group_id, user_id, user_name, reason ("left", "away": no connection for the away
#: time, "removed": no longer a member of the group)
call_participant_left = _signals.signal("call-participant-left")
#: call_id, group_id: its last participant left
call_ended = _signals.signal("call-ended")

ALL_SIGNALS: tuple[Signal, ...] = (
    post_created, post_liked, comment_created, user_followed, items_expiring,
    goal_achieved, recipe_generated, recipe_failed, system_notification, user_deactivated,
    group_post_created, group_invitation_sent, group_member_removed, group_deleted, notifications_read,
    nearby_offer_created, nearby_offer_claimed, plan_updated, shopping_item_checked,
    post_stats_changed,
    live_started, live_ended, live_step, live_chat, live_chat_deleted,
    call_started, call_participant_joined, call_participant_left, call_ended,
)


def emit(signal: Signal, **kwargs: Any) -> None:
    """Send ``signal`` with the real app (not the proxy) as sender; call before the commit."""
    signal.send(current_app._get_current_object(), **kwargs)  # type: ignore[attr-defined]
