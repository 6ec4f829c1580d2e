"""Broadcasts: creating, starting, stepping, ending, chat and its moderation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from sqlalchemy import String, case, cast, delete, func, select

from itcook.errors import ApiError
from itcook.extensions import db, realtime
from itcook.locking import lock_for_update
from itcook.models import (
    Follow,
    LiveBroadcast,
    LiveChatMessage,
    LiveMute,
    Notification,
    Recipe,
    User,
    isoformat,
    utcnow,
)
from itcook.signals import emit, live_chat, live_chat_deleted, live_ended, live_started, live_step
from itcook.validation import invalid_field, paginate, unstorable

TITLE_MAX, STEP_MAX, STEPS_MAX, CHAT_MAX = 200, 500, 100, 500


def _stamp(value: dt.datetime | None) -> str | None:
    return isoformat(value) if value is not None else None


def to_dict(live: LiveBroadcast) -> dict[str, Any]:
    """What every user may see of a broadcast (never its media secrets)."""
    host = db.session.get(User, live.host_id)
    return {"id": live.id, "host_id": live.host_id, "host_name": host.display_name if host else None,
            "title": live.title, "status": live.status, "steps": list(live.steps or []),
            "current_step": live.current_step, "recipe_id": live.recipe_id,
            "created_at": _stamp(live.created_at), "started_at": _stamp(live.started_at),
            "ended_at": _stamp(live.ended_at)}


def parse_steps(value: Any) -> list[str]:
    """``steps``: a list of at most ``STEPS_MAX`` non-empty texts, each at most ``STEP_MAX`` long."""
    if not isinstance(value, list) or len(value) > STEPS_MAX:
        raise ApiError(400, "invalid_field", "steps: must be a list of at most %(limit)d texts",
                       limit=STEPS_MAX)
    steps = []
    for text in value:
        if not isinstance(text, str) or not text.strip() or len(text.strip()) > STEP_MAX:
            raise ApiError(400, "invalid_field", "steps: each must be a text of 1 to %(limit)d characters",
                           limit=STEP_MAX)
        if (problem := unstorable(text)) is not None:
            raise invalid_field("steps", problem)
        steps.append(text.strip())
    return steps


def create(host: User, title: str, steps: list[str] | None, recipe_id: int | None) -> dict[str, Any]:
    """A scheduled broadcast; with ``recipe_id`` (and no ``steps``), the recipe's steps."""
    if recipe_id is not None:
        recipe = db.session.get(Recipe, recipe_id)
        if recipe is None:
            raise ApiError(404, "recipe_not_found", "no such recipe")
        if steps is None:
            steps = [str(step) for step in recipe.steps or []][:STEPS_MAX]
    live = LiveBroadcast(host_id=host.id, title=title, steps=steps or [], recipe_id=recipe_id,
                         status="scheduled", janus_tokens={}, p2p_viewers=[], created_at=utcnow())
    db.session.add(live)
    db.session.commit()
    return to_dict(live)


def get(live_id: int, *, lock: bool = False) -> LiveBroadcast:
    """The broadcast, or 404 ``live_not_found``; ``lock``: its row, for this transaction."""
    stmt = select(LiveBroadcast).where(LiveBroadcast.id == live_id)
    if lock:  # read afresh under the lock, even when this session has the row already
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    live = db.session.scalar(stmt)
    if live is None:
        raise ApiError(404, "live_not_found", "no such broadcast")
    return live


def hosted(user: User, live_id: int) -> LiveBroadcast:
    """The broadcast, locked, if ``user`` hosts it; 403 ``not_host`` otherwise."""
    live = get(live_id, lock=True)
    if live.host_id != user.id:
        raise ApiError(403, "not_host", "only the host controls the broadcast")
    return live


def list_current() -> dict[str, Any]:
    """One page of the broadcasts live now (latest start first), then the scheduled ones."""
    order = case((LiveBroadcast.status == "live", 0), else_=1)
    stmt = select(LiveBroadcast).where(LiveBroadcast.status.in_(("live", "scheduled"))).order_by(
        order, LiveBroadcast.started_at.desc(), LiveBroadcast.id.desc())
    items, page = paginate(stmt)
    return {"items": [to_dict(live) for live in items], **page}


def start(host: User, live_id: int) -> dict[str, Any]:
    """scheduled -> live: the media room opens; LiveStarted to community and the followers."""
    from itcook.broadcasts import media

    live = hosted(host, live_id)
    if live.status != "scheduled":
        raise ApiError(409, "not_scheduled", "the broadcast is %(status)s: only a scheduled one starts",
                       status=live.status)
    live.status, live.started_at = "live", utcnow()
    media.open_room(current_app, live)
    followers = list(db.session.scalars(select(Follow.follower_id).where(Follow.followed_id == host.id)))
    emit(live_started, live_id=live.id, host_id=host.id, host_name=host.display_name, title=live.title,
         audience=[None, *followers])
    db.session.commit()
    return to_dict(live)


def end(host: User, live_id: int) -> dict[str, Any]:
    """live (or scheduled: cancelled) -> ended: the media room closes; LiveEnded."""
    from itcook.broadcasts import media

    live = hosted(host, live_id)
    if live.status == "ended":
        raise ApiError(409, "already_ended", "the broadcast has ended")
    live.status, live.ended_at = "ended", utcnow()
    media.close_room(current_app, live)
    emit(live_ended, live_id=live.id)
    db.session.commit()
    return to_dict(live)


def _require_live(live: LiveBroadcast) -> None:
    if live.status != "live":
        raise ApiError(409, "not_live", "the broadcast is %(status)s, not live", status=live.status)


def step(host: User, live_id: int, index: int) -> dict[str, Any]:
    """The host moves to step ``index``: LiveStep on ``live:<id>``."""
    live = hosted(host, live_id)
    _require_live(live)
    if not 0 <= index < len(live.steps or []):
        raise ApiError(400, "invalid_field", "index: must be 0 to %(last)d", last=len(live.steps or []) - 1)
    live.current_step = index
    emit(live_step, live_id=live.id, index=index, text=live.steps[index])
    db.session.commit()
    return to_dict(live)


def chat(user: User, live_id: int, text: str) -> dict[str, Any]:
    """A chat message while live (not from a muted viewer): LiveChat, durable."""
    live = get(live_id)
    _require_live(live)
    if db.session.get(LiveMute, (live.id, user.id)) is not None:
        raise ApiError(403, "muted", "the host muted you in this broadcast")
    _chat_rate(user)
    message = LiveChatMessage(live_id=live.id, user_id=user.id, text=text, deleted=False,
                              created_at=utcnow())
    db.session.add(message)
    db.session.flush()
    emit(live_chat, live_id=live.id, message_id=message.id, user_id=user.id,
         user_name=user.display_name, text=text)
    db.session.commit()
    return {"id": message.id, "live_id": live.id, "user_id": user.id, "user_name": user.display_name,
            "text": text, "created_at": isoformat(message.created_at)}


def _chat_rate(user: User) -> None:
    """At most ``LIVE_CHAT_PER_MINUTE`` messages a user in any minute (one message reaches every
    viewer: a flood would disturb them all)."""
    limit = current_app.config["LIVE_CHAT_PER_MINUTE"]
    if not limit:
        return
    lock_for_update(User, user.id)  # count-then-write holds for one user's parallel requests
    since = utcnow() - dt.timedelta(minutes=1)
    sent = db.session.scalar(select(func.count()).select_from(LiveChatMessage).where(
        LiveChatMessage.user_id == user.id, LiveChatMessage.created_at >= since)) or 0
    if sent >= limit:
        raise ApiError(429, "rate_limited", "at most %(limit)d chat messages a minute; try again later",
                       limit=limit)


def delete_chat(host: User, live_id: int, message_id: int) -> None:
    """The host deletes a message: LiveChatDeleted (once; deleting it again changes nothing)."""
    live = hosted(host, live_id)
    message = db.session.get(LiveChatMessage, message_id)
    if message is None or message.live_id != live.id:
        raise ApiError(404, "message_not_found", "no such message in this broadcast")
    if not message.deleted:
        message.deleted = True
        emit(live_chat_deleted, live_id=live.id, message_id=message.id)
    db.session.commit()


def mute(host: User, live_id: int, user_id: int) -> dict[str, Any]:
    """The host mutes a viewer in this broadcast: their chat is refused from now on."""
    live = hosted(host, live_id)
    if user_id == host.id:
        raise ApiError(400, "invalid_field", "user_id: the host cannot mute themselves")
    if db.session.get(User, user_id) is None:
        raise ApiError(404, "user_not_found", "no such user")
    if db.session.get(LiveMute, (live.id, user_id)) is None:
        db.session.add(LiveMute(live_id=live.id, user_id=user_id, created_at=utcnow()))
    db.session.commit()
    return {"live_id": live.id, "user_id": user_id, "muted": True}


def forget_user(user_id: int) -> None:
    """In an account deletion's transaction: the events of the broadcasts it hosted (their
    channels, their LiveStarted everywhere, in inboxes too) and its chat in others' broadcasts;
    its media server tokens, and the rooms of the broadcasts it hosted live."""
    from itcook.broadcasts import media

    media.revoke_user(current_app, user_id, close_hosted=True)
    hosted = list(db.session.scalars(select(LiveBroadcast.id).where(LiveBroadcast.host_id == user_id)))
    if hosted:
        realtime.purge(db.session, [f"live:{i}" for i in hosted], about=("LiveStarted", "live_id", hosted))
        db.session.execute(delete(Notification).where(
            Notification.type == "LiveStarted",
            cast(Notification.data["live_id"].as_string(), String).in_([str(i) for i in hosted])))
    realtime.purge(db.session, [], about=("LiveChat", "user_id", [user_id]))
