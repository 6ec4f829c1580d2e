"""Filing personal events in the inbox, listing them and marking them read."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, String, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from itcook.extensions import db
from itcook.models import Notification, User, isoformat, utcnow
from itcook.notifications.texts import describe, is_notification, link
from itcook.signals import emit, notifications_read
from itcook.validation import paginate

log = logging.getLogger(__name__)

#: The kinds one person can repeat at will by toggling (follow/unfollow, invite/cancel,
#: like/unlike), with the data fields naming their actor and object: at most one notification
#: (and so one push) a UTC day per (actor, recipient, kind, object). The live event still goes out.
DEDUPED: dict[str, tuple[str, str | None]] = {
    "NewFollower": ("follower_id", None),
    "GroupInvitation": ("invited_by_id", "group_id"),
    "PostLiked": ("user_id", "post_id"),
}


def _parse_ts(ts: str | None) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def dedupe_key(event_type: str, data: dict[str, Any], created_at: dt.datetime) -> str | None:
    """The key that makes a repeated notification of a ``DEDUPED`` kind a duplicate, else None."""
    fields = DEDUPED.get(event_type)
    if fields is None:
        return None
    actor, obj = fields
    return f"{event_type}:{data.get(actor)}:{data.get(obj) if obj else ''}:{created_at.date().isoformat()}"


def record(user_id: int, event_id: int, event_type: str, data: dict[str, Any],
           ts: str | None = None) -> bool:
    """File a personal event as ``user_id``'s notification in the current transaction (the
    event's own: both commit or neither does); True if it was filed, False for a duplicate of
    one filed the same day (see ``DEDUPED``)."""
    if not is_notification(event_type):
        return False
    created_at = _parse_ts(ts)
    # Only for an existing user: an event to a deleted account is logged, but has no inbox.
    row = select(literal(event_id, BigInteger), User.id, literal(event_type, String),
                 literal(data, JSON), literal(created_at, DateTime),
                 literal(dedupe_key(event_type, data, created_at), String)).where(User.id == user_id)
    columns = ["id", "user_id", "type", "data", "created_at", "dedupe_key"]
    # A duplicate is skipped, not raised: an error here would fail the change that sent the event.
    dialect_insert = sqlite_insert if db.session.get_bind().dialect.name == "sqlite" else pg_insert
    stmt = dialect_insert(Notification).from_select(columns, row).on_conflict_do_nothing()
    return bool(db.session.execute(stmt).rowcount)


def to_dict(note: Notification) -> dict[str, Any]:
    """The inbox shape of a notification."""
    title, body = describe(note.type, note.data)
    return {
        "id": note.id,
        "type": note.type,
        "title": title,
        "body": body,
        "data": note.data,
        "link": link(note.type, note.data),
        "created_at": isoformat(note.created_at),
        "read": note.read_at is not None,
        "read_at": isoformat(note.read_at) if note.read_at is not None else None,
    }


def unread_count(user_id: int) -> int:
    """How many of the user's notifications are unread."""
    return int(db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)


def list_notifications(user: User, unread_only: bool) -> dict[str, Any]:
    """One page of the user's notifications, newest first, with the unread count."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    notes, page = paginate(stmt.order_by(Notification.id.desc()))
    return {"items": [to_dict(note) for note in notes], **page, "unread_count": unread_count(user.id)}


def mark_read(user: User, ids: list[int] | None, up_to_id: int | None) -> dict[str, Any]:
    """Mark the given notifications (or all up to an id) read; announce it if anything changed.

    Ids that are unknown, already read or another user's are ignored: the call is idempotent.
    """
    stmt = (update(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .values(read_at=utcnow()).returning(Notification.id))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    else:
        stmt = stmt.where(Notification.id <= up_to_id)
    changed = sorted(db.session.scalars(stmt.execution_options(synchronize_session=False)))
    count = unread_count(user.id)
    if changed:
        # The user's other connections update their inbox and badge from this.
        emit(notifications_read, user_id=user.id, ids=changed if ids is not None else None,
             up_to_id=up_to_id, unread_count=count)
    db.session.commit()
    return {"marked": len(changed), "unread_count": count}
