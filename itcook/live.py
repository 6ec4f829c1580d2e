"""IT Cook as the real-time plugin's host: its domain signals become events, by one table.

Each row of ``EVENTS`` says which signal sends an event, its type, the channels it goes to,
the signal arguments its data carries, whether it is durable, and what its notification says
(title and body, the same in the inbox and in Web Push, written with ``gettext`` when shown: in
the reader's language, docs/i18n.md; no text: not a notification). A new event is one signal
in ``itcook/signals.py`` and one row here.

One receiver per signal publishes its rows' events in the sender's own app context, so the
event joins the sender's ``db.session`` transaction (docs/outbox.md): it commits with the
change or not at all, and a failure to write it fails the change. What can fail after the
commit (the broker, Web Push) is caught where it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blinker import Signal
from flask import Flask, current_app, has_app_context

from itcook import coalesce, signals
from itcook.i18n import gettext, ngettext

if TYPE_CHECKING:
    from itcook.realtime import Realtime

Args = Mapping[str, Any]
#: ``(title, body)`` of a notification, from the event's data.
Text = Callable[[Args], tuple[str, str]]
#: A channel: a template over the signal's arguments (``"user:{followed_id}"``), or a function.
Channel = str | Callable[[Args], str]


@dataclass(frozen=True, eq=False)
class EventSpec:
    """One row of the table: how a signal becomes an event."""

    signal: Signal
    type: str
    channels: Channel | tuple[Channel, ...]
    #: The signal's arguments the event's data carries, in this order.
    fields: tuple[str, ...]
    durable: bool = True
    #: The notification's text for a personal event; None: it is not filed, nor pushed.
    inbox: Text | None = None
    #: The argument naming who acted: nobody is sent a personal copy of their own act.
    actor: str | None = None
    #: A list argument: one event per element; a dict element's keys join the arguments,
    #: any other element is the argument ``item``.
    each: str | None = None
    #: The page of the web app a notification opens (inbox ``link``, Web Push ``url``): a
    #: template over the event's data (``"/#post-{post_id}"``).
    link: str = "/"
    #: Seconds: at most one event per channel this often, the last change always sent, after
    #: the commit (``itcook/coalesce.py``); for non-durable rows with ``current``.
    every: float = 0.0
    #: Reads the arguments afresh when a coalesced event goes out (None: nothing to send).
    current: Callable[[Args], Args | None] | None = None

    def events(self, args: Args) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(channel, data)`` of every event this row makes of a signal's ``args``."""
        for one in self._each(args):
            data = {name: one[name] for name in self.fields}
            for name in self.channels_of(one):
                yield name, data

    def channels_of(self, one: Args) -> Iterator[str]:
        """The channels of one event of these arguments (never the actor's own personal one)."""
        for channel in self.channels if isinstance(self.channels, tuple) else (self.channels,):
            name = channel(one) if callable(channel) else channel.format_map(one)
            if not (self.actor is not None and name == f"user:{one[self.actor]}"):
                yield name

    def _each(self, args: Args) -> Iterator[Args]:
        if self.each is None:
            yield args
            return
        for element in args[self.each]:
            yield {**args, **element} if isinstance(element, dict) else {**args, "item": element}


def _name(data: Args, key: str) -> str:
    return str(data.get(key) or gettext("Someone"))


def _expiring(data: Args) -> tuple[str, str]:
    items = data.get("items") if isinstance(data.get("items"), list) else []
    names = ", ".join(str(item.get("name", "")) for item in items[:5] if isinstance(item, dict))
    days = data.get("days") if isinstance(data.get("days"), int) else 0
    body = ngettext("%(num)d item within %(days)s: %(names)s", "%(num)d items within %(days)s: %(names)s",
                    len(items), days=ngettext("%(num)d day", "%(num)d days", days), names=names)
    if len(items) > 5:
        body += ngettext(" and %(num)d more", " and %(num)d more", len(items) - 5)
    return gettext("Food is expiring"), body


def _post_stats(args: Args) -> Args | None:
    from itcook.community.services import post_stats

    return post_stats(args["post_id"])


def _system_or_personal(args: Args) -> str:
    return "system" if args["user_id"] is None else f"user:{args['user_id']}"


def _community_or_personal(args: Args) -> str:
    return "community" if args["item"] is None else f"user:{args['item']}"


EVENTS: tuple[EventSpec, ...] = (
    EventSpec(signals.post_created, "NewCommunityPost", "community",
              ("post_id", "author_id", "author_name", "content")),
    EventSpec(signals.post_liked, "PostLiked", "user:{post_author_id}",
              ("post_id", "user_id", "user_name", "likes_count"), actor="user_id",
              inbox=lambda d: (gettext("New like"),
                               gettext("%(name)s liked your post", name=_name(d, "user_name"))),
              link="/#post-{post_id}"),
    # Everyone following the post's comments, and its author unless they wrote it.
    EventSpec(signals.comment_created, "NewComment", ("post:{post_id}", "user:{post_author_id}"),
              ("comment_id", "post_id", "author_id", "author_name", "content"), actor="author_id",
              inbox=lambda d: (gettext("New comment"), f"{_name(d, 'author_name')}: {d.get('content', '')}"),
              link="/#post-{post_id}"),
    # Counters for everyone who sees the post, whoever changed them, in whichever process.
    EventSpec(signals.post_stats_changed, "PostStats", "post:{post_id}",
              ("post_id", "likes_count", "comments_count"), durable=False, every=1.0,
              current=_post_stats),
    EventSpec(signals.user_followed, "NewFollower", "user:{followed_id}",
              ("follower_id", "follower_name"),
              inbox=lambda d: (gettext("New follower"),
                               gettext("%(name)s follows you now", name=_name(d, "follower_name"))),
              link="/#user-{follower_id}"),
    EventSpec(signals.items_expiring, "ExpiringItems", "user:{user_id}",
              ("items", "days"),
              # Nearby is where expiring items can be offered to people close by.
              inbox=_expiring, link="/#nearby"),
    EventSpec(signals.goal_achieved, "GoalAchieved", "user:{user_id}",
              ("goal_id", "title"),
              inbox=lambda d: (gettext("Goal achieved"), str(d.get("title", ""))),
              link="/#goal-{goal_id}"),
    EventSpec(signals.recipe_generated, "RecipeGenerated", "user:{user_id}",
              ("job_id", "recipe_id", "title"),
              inbox=lambda d: (gettext("Your recipe is ready"), str(d.get("title", ""))),
              link="/#recipe-{recipe_id}"),
    EventSpec(signals.recipe_failed, "RecipeFailed", "user:{user_id}",
              ("job_id", "error"),
              # A known error is a msgid (recipes.services), a generator's own is shown as it came.
              inbox=lambda d: (gettext("The recipe could not be written"), gettext(str(d.get("error", "")))),
              link="/#recipes"),
    # To everyone, or to one user (``user_id``).
    EventSpec(signals.system_notification, "SystemNotification", _system_or_personal,
              ("title", "message", "level"),
              # The admin's own words, in the language they wrote them.
              inbox=lambda d: (str(d.get("title") or gettext("Notice")), str(d.get("message", "")))),
    EventSpec(signals.group_post_created, "NewGroupPost", "group:{group_id}",
              ("group_id", "post_id", "author_id", "author_name", "content")),
    EventSpec(signals.group_invitation_sent, "GroupInvitation", "user:{user_id}",
              ("group_id", "group_name", "invited_by_id", "invited_by_name"),
              inbox=lambda d: (gettext("Group invitation"), gettext(
                  "%(name)s invites you to %(group)s", name=_name(d, "invited_by_name"),
                  group=d.get("group_name") or gettext("a group"))),
              link="/#group-{group_id}"),
    # The inbox's own "read elsewhere": the user's other connections update their badge.
    EventSpec(signals.notifications_read, "NotificationsRead", "user:{user_id}",
              ("ids", "up_to_id", "unread_count")),
    # One to each opted-in user whose area holds the offer (recipients: {user_id, distance_km}).
    EventSpec(signals.nearby_offer_created, "NearbyOffer", "user:{user_id}",
              ("offer_id", "title", "approx_lat", "approx_lon", "distance_km", "pickup_until", "by_name"),
              each="recipients",
              inbox=lambda d: (gettext("Food to share near you"), gettext(
                  "%(name)s offers %(title)s, %(distance)s km away", name=_name(d, "by_name"),
                  title=d.get("title") or gettext("food"), distance=d.get("distance_km", "?"))),
              link="/#nearby"),
    EventSpec(signals.nearby_offer_claimed, "OfferClaimed", "user:{offerer_id}",
              ("offer_id", "by_id", "by_name"),
              inbox=lambda d: (gettext("Your offer was claimed"),
                               gettext("%(name)s will pick it up", name=_name(d, "by_name"))),
              link="/#nearby"),
    # The others who were told of the offer just hide it (recipients: user ids).
    EventSpec(signals.nearby_offer_claimed, "NearbyOfferTaken", "user:{item}",
              ("offer_id",),
              each="recipients"),
    # Enough for a client to rebuild the plan from events (docs/plans.md).
    EventSpec(signals.plan_updated, "MenuPlanUpdated", "plan:{plan_id}",
              ("plan_id", "version", "by", "by_name", "op_id", "ops", "results", "entries")),
    EventSpec(signals.shopping_item_checked, "ShoppingItemChecked", "plan:{plan_id}",
              ("plan_id", "name", "checked", "by")),
    # Live broadcasts (docs/live.md): one to community (audience None) and one to each follower,
    # whose copy is filed (and pushed when they are offline).
    EventSpec(signals.live_started, "LiveStarted", _community_or_personal,
              ("live_id", "host_id", "host_name", "title"), each="audience",
              inbox=lambda d: (gettext("Live now"), gettext(
                  "%(name)s is cooking live: %(title)s", name=_name(d, "host_name"),
                  title=d.get("title", ""))),
              link="/static/live.html?live={live_id}"),
    EventSpec(signals.live_ended, "LiveEnded", "live:{live_id}", ("live_id",)),
    EventSpec(signals.live_step, "LiveStep", "live:{live_id}", ("live_id", "index", "text")),
    # Durable: a viewer who reconnects or joins late catches up by resuming.
    EventSpec(signals.live_chat, "LiveChat", "live:{live_id}",
              ("live_id", "message_id", "user_id", "user_name", "text")),
    EventSpec(signals.live_chat_deleted, "LiveChatDeleted", "live:{live_id}", ("live_id", "message_id")),
    # Calls (docs/calls.md): the group hears a call start; the call and the group hear who
    # comes and goes, and its end.
    EventSpec(signals.call_started, "CallStarted", "group:{group_id}",
              ("call_id", "group_id", "started_by", "started_by_name")),
    EventSpec(signals.call_participant_joined, "CallParticipantJoined",
              ("call:{call_id}", "group:{group_id}"), ("call_id", "user_id", "user_name")),
    EventSpec(signals.call_participant_left, "CallParticipantLeft",
              ("call:{call_id}", "group:{group_id}"), ("call_id", "user_id", "user_name", "reason")),
    EventSpec(signals.call_ended, "CallEnded", ("call:{call_id}", "group:{group_id}"), ("call_id",)),
)


def spec(event_type: str) -> EventSpec | None:
    """The row that sends ``event_type`` (the first, if several do), or None."""
    return _by_type(EVENTS).get(event_type)


@functools.lru_cache(maxsize=1)
def _by_type(rows: tuple[EventSpec, ...]) -> dict[str, EventSpec]:
    by_type: dict[str, EventSpec] = {}
    for row in rows:
        by_type.setdefault(row.type, row)
    return by_type


# Signals that change who may hear what, rather than announce an event.
def _user_deactivated(rt: Realtime, user_id: int, reason: str = "", **_: Any) -> None:
    rt.disconnect_user(user_id)
    if reason == "deleted":  # admin.delete_user purged their events: memory follows
        rt.forget_recent()


def _group_member_removed(rt: Realtime, group_id: int, user_id: int, **_: Any) -> None:
    rt.revoke(f"group:{group_id}", user_id)


def _group_deleted(rt: Realtime, group_id: int, **_: Any) -> None:
    rt.revoke(f"group:{group_id}")
    rt.forget_recent()  # its events were purged with it


ACTIONS: dict[Signal, Callable[..., None]] = {
    signals.user_deactivated: _user_deactivated,
    signals.group_member_removed: _group_member_removed,
    signals.group_deleted: _group_deleted,
}


def _publisher(app: Flask, rows: tuple[EventSpec, ...]) -> Callable[..., None]:
    def publish(rt: Realtime, **args: Any) -> None:
        for row in rows:  # in table order: the ids follow it
            if row.every:
                _coalesced(app, rt, row, args)
                continue
            for channel, data in row.events(args):
                rt.publish(channel, row.type, data, durable=row.durable)

    return publish


def _coalesced(app: Flask, rt: Realtime, row: EventSpec, args: Args) -> None:
    """Send ``row``'s events after the commit, at most once per ``row.every`` per channel."""
    state = rt.state(app)
    coalescer: coalesce.Coalescer = app.extensions["live.coalescers"][row.type]
    for channel in row.channels_of(args):
        def send(channel: str = channel) -> None:
            if state.closing:
                return
            with app.app_context():
                fresh = row.current(args)  # type: ignore[misc]  (checked in connect)
            if fresh is not None:
                data = {name: fresh[name] for name in row.fields}
                rt.publish(channel, row.type, data, durable=False, app=app)

        session = state.open_transaction()
        if session is None:
            coalescer.offer(channel, send)
        else:
            coalesce.after_commit(session, coalescer, channel, send)


def _receiver(name: str, rt: Realtime, handle: Callable[..., None]) -> Callable[..., None]:
    def receive(sender: Flask, **args: Any) -> None:
        # The sender's own context keeps its ``db.session``: the event joins its transaction.
        if has_app_context() and current_app._get_current_object() is sender:  # type: ignore[attr-defined]
            handle(rt, **args)
        else:
            with sender.app_context():
                handle(rt, **args)

    receive.__name__ = f"live_{name}"
    return receive


def connect(app: Flask, rt: Realtime) -> None:
    """Connect one receiver per signal of ``EVENTS`` and ``ACTIONS``, with ``sender=app``."""
    rows: dict[Signal, list[EventSpec]] = {}
    for row in EVENTS:
        rows.setdefault(row.signal, []).append(row)
    handlers = {signal: _publisher(app, tuple(group)) for signal, group in rows.items()}
    from itcook.extensions import db

    for row in EVENTS:
        if row.every and (row.current is None or row.durable):
            raise ValueError(f"{row.type}: a coalesced event is not durable and reads its current data")
    coalesce.install(db.session)
    app.extensions["live.coalescers"] = {row.type: coalesce.Coalescer(row.every) for row in EVENTS
                                         if row.every}
    handlers.update(ACTIONS)
    receivers = {signal: _receiver(signal.name, rt, handle) for signal, handle in handlers.items()}
    for signal, receiver in receivers.items():
        # weak=False: the receivers live only here; blinker would drop weakly held ones at once.
        signal.connect(receiver, sender=app, weak=False)
    app.extensions["live"] = receivers
