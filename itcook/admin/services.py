"""Administration: system notifications, disabling, enabling and deleting accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from itcook.auth.services import end_sessions
from itcook.broadcasts.services import forget_user as forget_broadcasts
from itcook.community.services import retract_user_activity
from itcook.errors import ApiError
from itcook.extensions import db, realtime
from itcook.groups.services import forget_groups
from itcook.models import Group, Post, User
from itcook.signals import emit, system_notification, user_deactivated
from itcook.validation import paginate

LEVELS = ("info", "success", "warning", "error")


def user_to_admin_dict(user: User) -> dict[str, Any]:
    """The user as an administrator sees it: the public shape plus ``is_active``."""
    return {**user.to_dict(), "is_active": user.is_active}


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "not_found", "user not found")
    return user


def _refuse_self(admin: User, user_id: int) -> None:
    # An admin locking themself out would leave a session that can no longer act.
    if admin.id == user_id:
        raise ApiError(400, "cannot_modify_self", "administrators cannot disable or delete themselves")


def send_notification(title: str, message: str, level: str, user_id: int | None) -> dict[str, Any]:
    """Announce a notice to one user or (``user_id`` None) to everyone."""
    if user_id is not None:
        _get_user(user_id)
    emit(system_notification, title=title, message=message, level=level, user_id=user_id)
    db.session.commit()
    return {"title": title, "message": message, "level": level, "user_id": user_id}


def list_users() -> dict[str, Any]:
    """One page of every account, oldest first."""
    users, page = paginate(select(User).order_by(User.id))
    return {"items": [user_to_admin_dict(user) for user in users], **page}


def set_active(admin: User, user_id: int, active: bool) -> dict[str, Any]:
    """Enable or disable an account; a disable that changes something sends ``user_deactivated``."""
    user = _get_user(user_id)
    if not active:
        _refuse_self(admin, user_id)
    changed = user.is_active != active
    if changed:
        user.is_active = active
        if not active:
            end_sessions(user)  # enabling again does not bring back what was issued before
            # The disconnects go out once the commit is done.
            emit(user_deactivated, user_id=user_id, reason="disabled")
        db.session.commit()
    return user_to_admin_dict(user)


def delete_user(admin: User, user_id: int) -> None:
    """Delete an account and everything that belongs to it; ``user_deactivated`` with it."""
    user = _get_user(user_id)
    _refuse_self(admin, user_id)
    # The rows go away in SQL below; the ORM copy must not linger in the identity map.
    db.session.expunge(user)
    retract_user_activity(user_id)
    # Their logged events go in the same transaction: their personal channel, their posts'
    # and their groups' channels (the rows go with the user below), their posts' news, and
    # their comments and group posts elsewhere.
    posts = db.session.scalars(select(Post.id).where(Post.author_id == user_id)).all()
    groups = db.session.scalars(select(Group.id).where(Group.owner_id == user_id)).all()
    realtime.purge(db.session, [f"user:{user_id}", *(f"post:{p}" for p in posts)],
                   community_posts=posts, author=user_id)
    forget_groups(list(groups))
    forget_broadcasts(user_id)
    # The database applies the declared ON DELETE rules (SQLite too: extensions.py turns
    # its foreign keys on), so everything the user owned goes with the row.
    db.session.execute(delete(User).where(User.id == user_id))
    emit(user_deactivated, user_id=user_id, reason="deleted")
    db.session.commit()
