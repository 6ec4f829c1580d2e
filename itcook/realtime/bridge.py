"""Signal receivers → events, written in the transaction of the change that sent the signal.

A receiver's failure to write its event fails that change too (the transaction must not commit
without its event); what can fail after the commit (the broker, Web Push) is caught there.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from itcook import signals

if TYPE_CHECKING:
    from itcook.realtime import Realtime
    from itcook.realtime.events import Event

log = logging.getLogger(__name__)


def _in_app(name: str, handler: Callable[..., Any]) -> Callable[..., None]:
    @functools.wraps(handler)
    def receive(sender: Flask, **kwargs: Any) -> None:
        # The sender's own context keeps its ``db.session``: the event joins its transaction.
        if has_app_context() and current_app._get_current_object() is sender:  # type: ignore[attr-defined]
            handler(**kwargs)
        else:
            with sender.app_context():
                handler(**kwargs)

    receive.__name__ = f"realtime_{name}"
    return receive


def connect(app: Flask, rt: Realtime) -> None:
    """Connect a receiver for every domain signal, with ``sender=app``."""

    def post_created(post_id: int, author_id: int, author_name: str, content: str,
                     created_at: str | None = None, **_: Any) -> None:
        rt.notify_new_post(post_id, author_id, author_name, content)

    def post_liked(post_id: int, post_author_id: int, user_id: int, user_name: str,
                   likes_count: int, **_: Any) -> None:
        rt.notify_post_liked(post_author_id, post_id, user_id, user_name, likes_count)

    def comment_created(comment_id: int, post_id: int, post_author_id: int, author_id: int,
                        author_name: str, content: str, **_: Any) -> None:
        rt.notify_new_comment(post_author_id, comment_id, post_id, author_id, author_name, content)

    def user_followed(follower_id: int, follower_name: str, followed_id: int, **_: Any) -> None:
        rt.notify_new_follower(followed_id, follower_id, follower_name)

    def items_expiring(user_id: int, items: list[dict[str, Any]], days: int, **_: Any) -> None:
        rt.notify_expiring_items(user_id, items, days)

    def goal_achieved(user_id: int, goal_id: int, title: str, **_: Any) -> None:
        rt.notify_goal_achieved(user_id, goal_id, title)

    def recipe_generated(user_id: int, job_id: str, recipe_id: int, title: str, **_: Any) -> None:
        rt.notify_recipe_generated(user_id, job_id, recipe_id, title)

    def recipe_failed(user_id: int, job_id: str, error: str, **_: Any) -> None:
        rt.notify_recipe_failed(user_id, job_id, error)

    def system_notification(title: str, message: str, level: str = "info",
                            user_id: int | None = None, **_: Any) -> None:
        rt.notify_system(title, message, level, user_id)

    def user_deactivated(user_id: int, reason: str = "", **_: Any) -> None:
        rt.disconnect_user(user_id)
        if reason == "deleted":  # admin.delete_user purged their events: memory follows
            rt.forget_recent()

    def group_post_created(group_id: int, post_id: int, author_id: int, author_name: str,
                           content: str, **_: Any) -> None:
        rt.publish(f"group:{group_id}", "NewGroupPost", {
            "group_id": group_id, "post_id": post_id, "author_id": author_id,
            "author_name": author_name, "content": content})

    def group_invitation_sent(group_id: int, group_name: str, user_id: int, invited_by_id: int,
                              invited_by_name: str, **_: Any) -> None:
        rt.publish(f"user:{user_id}", "GroupInvitation", {
            "group_id": group_id, "group_name": group_name, "invited_by_id": invited_by_id,
            "invited_by_name": invited_by_name})

    def group_member_removed(group_id: int, user_id: int, **_: Any) -> None:
        rt.revoke(f"group:{group_id}", user_id)

    def group_deleted(group_id: int, **_: Any) -> None:
        rt.revoke(f"group:{group_id}")
        rt.forget_recent()  # its events were purged with it

    def notifications_read(user_id: int, ids: list[int] | None, up_to_id: int | None,
                           unread_count: int, **_: Any) -> None:
        rt.publish(f"user:{user_id}", "NotificationsRead",
                   {"ids": ids, "up_to_id": up_to_id, "unread_count": unread_count})

    def nearby_offer_created(offer_id: int, title: str, approx_lat: float, approx_lon: float,
                             pickup_until: str, by_name: str, recipients: list[dict[str, Any]],
                             **_: Any) -> None:
        for recipient in recipients:
            rt.publish(f"user:{recipient['user_id']}", "NearbyOffer", {
                "offer_id": offer_id, "title": title, "approx_lat": approx_lat,
                "approx_lon": approx_lon, "distance_km": recipient["distance_km"],
                "pickup_until": pickup_until, "by_name": by_name})

    def nearby_offer_claimed(offer_id: int, offerer_id: int, by_id: int, by_name: str,
                             recipients: list[int], **_: Any) -> None:
        rt.publish(f"user:{offerer_id}", "OfferClaimed",
                   {"offer_id": offer_id, "by_id": by_id, "by_name": by_name})
        for user_id in recipients:
            rt.publish(f"user:{user_id}", "NearbyOfferTaken", {"offer_id": offer_id})

    pairs = {
        signals.post_created: post_created, signals.post_liked: post_liked,
        signals.comment_created: comment_created, signals.user_followed: user_followed,
        signals.items_expiring: items_expiring, signals.goal_achieved: goal_achieved,
        signals.recipe_generated: recipe_generated, signals.recipe_failed: recipe_failed,
        signals.system_notification: system_notification,
        signals.user_deactivated: user_deactivated,
        signals.group_post_created: group_post_created,
        signals.group_invitation_sent: group_invitation_sent,
        signals.group_member_removed: group_member_removed, signals.group_deleted: group_deleted,
        signals.notifications_read: notifications_read,
        signals.nearby_offer_created: nearby_offer_created,
        signals.nearby_offer_claimed: nearby_offer_claimed,
    }
    receivers = []
    for signal, handler in pairs.items():
        receiver = _in_app(signal.name, handler)
        # weak=False: the closures live only here; blinker would drop weakly held ones at once.
        signal.connect(receiver, sender=app, weak=False)
        receivers.append((signal, receiver))
    app.extensions["realtime.receivers"] = receivers

    def announce(signal: Any) -> Callable[[Event], None]:
        def send(event: Event) -> None:
            user_id = int(event.channel[5:]) if event.channel.startswith("user:") else None
            signal.send(app, event_id=event.id, event_type=event.type, channel=event.channel,
                        user_id=user_id, data=event.data, ts=event.ts)

        return send

    # Durable events are announced to the app as they are written (the inbox files personal
    # ones in the same transaction) and once published (Web Push).
    state = rt.state(app)
    state.on_logged = announce(signals.event_logged)
    state.after_publish = announce(signals.event_published)
