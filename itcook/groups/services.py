"""Groups, memberships, invitations and group posts: the logic and the response shapes.

Who may do what: anyone creates a group and becomes its owner; anyone joins an *open* group;
a *closed* group is joined only by accepting an invitation from its owner; members read and
write posts; a member leaves (the owner cannot: they delete the group); the owner removes
members and revokes invitations, an invited user declines. Losing membership takes the user
off ``group:<id>`` on every live connection at once (``group_member_removed``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, delete, func, select
from sqlalchemy.exc import IntegrityError

from itcook.community.services import display_names, get_active_user
from itcook.errors import ApiError
from itcook.extensions import db, realtime
from itcook.locking import lock_for_update
from itcook.models import (
    Group,
    GroupInvite,
    GroupMember,
    GroupPost,
    Notification,
    User,
    isoformat,
    utcnow,
)
from itcook.signals import (
    emit,
    group_deleted,
    group_invitation_sent,
    group_member_removed,
    group_post_created,
)
from itcook.validation import is_row_id, paginate

NAME_MAX, DESCRIPTION_MAX, POST_MAX = 100, 1000, 5000


# --- lookups ---------------------------------------------------------------------------------

def is_member(group_id: int, user_id: int) -> bool:
    """Whether ``user_id`` belongs to the group (the realtime plugin gates ``group:<id>`` on it)."""
    return is_row_id(group_id) and db.session.get(GroupMember, (group_id, user_id)) is not None


def _get_group(group_id: int) -> Group:
    group = db.session.get(Group, group_id)
    if group is None:
        raise ApiError(404, "not_found", "group not found")
    return group


def _lock_group(group_id: int) -> Group:
    """The group, its membership and invitations held for this transaction (404 if gone).

    Joining, inviting, revoking and removing check memberships and invitations, then write:
    one request at a time per group, so that what was checked still holds at the commit.
    """
    if not is_row_id(group_id) or not lock_for_update(Group, group_id):
        raise ApiError(404, "not_found", "group not found")
    return _get_group(group_id)


def require_member(group_id: int, user: User) -> None:
    """403 ``not_a_member`` unless ``user`` is a member of the group."""
    if not is_member(group_id, user.id):
        raise ApiError(403, "not_a_member", "only members of this group may do this")


def _require_owner(group: Group, user: User) -> None:
    if group.owner_id != user.id:
        raise ApiError(403, "not_group_owner", "only the owner of this group may do this")


# --- response shapes -------------------------------------------------------------------------

def _groups_to_dicts(groups: list[Group], viewer_id: int) -> list[dict[str, Any]]:
    ids = [group.id for group in groups]
    if not ids:
        return []
    counts = dict(db.session.execute(select(GroupMember.group_id, func.count())
                                     .where(GroupMember.group_id.in_(ids))
                                     .group_by(GroupMember.group_id)).all())
    roles = dict(db.session.execute(select(GroupMember.group_id, GroupMember.role).where(
        GroupMember.group_id.in_(ids), GroupMember.user_id == viewer_id)).all())
    invited = set(db.session.scalars(select(GroupInvite.group_id).where(
        GroupInvite.group_id.in_(ids), GroupInvite.user_id == viewer_id)))
    names = display_names({group.owner_id for group in groups})
    return [{
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "open": group.is_open,
        "owner_id": group.owner_id,
        "owner_name": names.get(group.owner_id, ""),
        "members_count": int(counts.get(group.id, 0)),
        "created_at": isoformat(group.created_at),
        "my_role": roles.get(group.id),
        "invited": group.id in invited,
    } for group in groups]


def _post_dicts(posts: list[GroupPost]) -> list[dict[str, Any]]:
    names = display_names({post.author_id for post in posts})
    return [{"id": post.id, "group_id": post.group_id, "author_id": post.author_id,
             "author_name": names.get(post.author_id, ""), "content": post.content,
             "created_at": isoformat(post.created_at)} for post in posts]


# --- groups ----------------------------------------------------------------------------------

def create_group(owner: User, name: str, description: str, is_open: bool) -> dict[str, Any]:
    """Create a group; its creator is its owner and first member."""
    group = Group(name=name, description=description, owner_id=owner.id, is_open=is_open,
                  created_at=utcnow())
    db.session.add(group)
    db.session.flush()
    db.session.add(GroupMember(group_id=group.id, user_id=owner.id, role="owner", joined_at=utcnow()))
    db.session.commit()
    return _groups_to_dicts([group], owner.id)[0]


def list_groups(viewer: User, mine: bool) -> dict[str, Any]:
    """One page of groups, newest first: every group, or (``mine``) those the viewer belongs to."""
    stmt = select(Group).order_by(Group.created_at.desc(), Group.id.desc())
    if mine:
        stmt = stmt.where(Group.id.in_(select(GroupMember.group_id)
                                       .where(GroupMember.user_id == viewer.id)))
    groups, page = paginate(stmt)
    return {"items": _groups_to_dicts(groups, viewer.id), **page}


def get_group(viewer: User, group_id: int) -> dict[str, Any]:
    """One group as the viewer sees it."""
    return _groups_to_dicts([_get_group(group_id)], viewer.id)[0]


def forget_groups(group_ids: list[int]) -> None:
    """In the deletion's transaction: the groups' channels and every invitation to them, in the
    log and in inboxes (a deleted group's name, chosen by its owner, is shown to no one)."""
    if not group_ids:
        return
    realtime.purge(db.session, [f"group:{g}" for g in group_ids],
                   about=("GroupInvitation", "group_id", group_ids))
    db.session.execute(delete(Notification).where(
        Notification.type == "GroupInvitation",
        cast(Notification.data["group_id"].as_string(), String).in_([str(g) for g in group_ids])))


def delete_group(owner: User, group_id: int) -> None:
    """Delete a group with its posts, memberships and invitations (owner only)."""
    group = _get_group(group_id)
    _require_owner(group, owner)
    db.session.expunge(group)
    db.session.execute(delete(Group).where(Group.id == group_id))
    forget_groups([group_id])
    emit(group_deleted, group_id=group_id)
    db.session.commit()


# --- membership ------------------------------------------------------------------------------

def _membership(group_id: int, user_id: int) -> dict[str, Any]:
    member = db.session.get(GroupMember, (group_id, user_id))
    return {"group_id": group_id, "user_id": user_id, "member": member is not None,
            "role": member.role if member is not None else None}


def join_group(user: User, group_id: int) -> tuple[dict[str, Any], bool]:
    """Join an open group, or a closed one the user is invited to; True if newly joined."""
    group = _lock_group(group_id)
    if is_member(group_id, user.id):
        return _membership(group_id, user.id), False
    invite = db.session.get(GroupInvite, (group_id, user.id))
    if not group.is_open and invite is None:
        raise ApiError(403, "invite_required", "this group is closed: ask its owner for an invitation")
    if invite is not None:
        db.session.delete(invite)
    db.session.add(GroupMember(group_id=group_id, user_id=user.id, role="member", joined_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if is_member(group_id, user.id):  # a concurrent identical request won
            return _membership(group_id, user.id), False
        _get_group(group_id)  # deleted meanwhile -> 404
        raise
    return _membership(group_id, user.id), True


def remove_member(actor: User, group_id: int, user_id: int) -> dict[str, Any]:
    """A member leaves (``user_id`` is the actor) or the owner removes one; idempotent."""
    group = _lock_group(group_id)
    leaving = user_id == actor.id
    if not leaving:
        _require_owner(group, actor)
    if user_id == group.owner_id:
        raise ApiError(400, "owner_cannot_leave",
                       "the owner cannot leave or be removed; delete the group instead")
    removed = db.session.execute(delete(GroupMember).where(
        GroupMember.group_id == group_id, GroupMember.user_id == user_id)).rowcount  # type: ignore[attr-defined]
    if removed:
        emit(group_member_removed, group_id=group_id, user_id=user_id,
             reason="left" if leaving else "removed")
    db.session.commit()
    return _membership(group_id, user_id)


def list_members(viewer: User, group_id: int) -> dict[str, Any]:
    """One page of a group's members, the owner first, then by joining time (members only)."""
    group = _get_group(group_id)
    require_member(group.id, viewer)
    members, page = paginate(select(GroupMember).where(GroupMember.group_id == group_id).order_by(
        (GroupMember.role == "owner").desc(), GroupMember.joined_at, GroupMember.user_id))
    users = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_([member.user_id for member in members])))} if members else {}
    items = [{"user_id": member.user_id, "username": users[member.user_id].username,
              "display_name": users[member.user_id].display_name, "role": member.role,
              "joined_at": isoformat(member.joined_at)} for member in members]
    return {"items": items, **page}


# --- invitations -----------------------------------------------------------------------------

def _invite_dict(invite: GroupInvite) -> dict[str, Any]:
    return {"group_id": invite.group_id, "user_id": invite.user_id, "invited_by": invite.invited_by,
            "created_at": isoformat(invite.created_at)}


def invite(owner: User, group_id: int, user_id: int) -> tuple[dict[str, Any], bool]:
    """The owner invites an active user; True if the invitation is new (then it is announced)."""
    group = _lock_group(group_id)
    _require_owner(group, owner)
    get_active_user(user_id)
    if is_member(group_id, user_id):
        raise ApiError(409, "already_member", "this user is already a member of the group")
    existing = db.session.get(GroupInvite, (group_id, user_id))
    if existing is not None:
        return _invite_dict(existing), False
    created = GroupInvite(group_id=group_id, user_id=user_id, invited_by=owner.id, created_at=utcnow())
    db.session.add(created)
    try:
        db.session.flush()  # a concurrent identical invitation fails here, before the announcement
        # Shaped before the commit: the invited user may accept (delete) it right after.
        body = _invite_dict(created)
        emit(group_invitation_sent, group_id=group_id, group_name=group.name, user_id=user_id,
             invited_by_id=owner.id, invited_by_name=owner.display_name)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.get(GroupInvite, (group_id, user_id))
        if existing is not None:
            return _invite_dict(existing), False
        raise
    return body, True


def list_invites(owner: User, group_id: int) -> dict[str, Any]:
    """One page of a group's pending invitations, oldest first (owner only)."""
    group = _get_group(group_id)
    _require_owner(group, owner)
    invites, page = paginate(select(GroupInvite).where(GroupInvite.group_id == group_id)
                             .order_by(GroupInvite.created_at, GroupInvite.user_id))
    return {"items": [_invite_dict(item) for item in invites], **page}


def cancel_invite(actor: User, group_id: int, user_id: int) -> None:
    """The owner revokes an invitation, or the invited user declines it; idempotent."""
    group = _lock_group(group_id)
    if user_id != actor.id:
        _require_owner(group, actor)
    db.session.execute(delete(GroupInvite).where(GroupInvite.group_id == group_id,
                                                 GroupInvite.user_id == user_id))
    db.session.commit()


# --- posts -----------------------------------------------------------------------------------

def create_post(author: User, group_id: int, content: str) -> dict[str, Any]:
    """A member posts to the group; its members hear of it on ``group:<id>`` (NewGroupPost)."""
    group = _get_group(group_id)
    require_member(group.id, author)
    post = GroupPost(group_id=group_id, author_id=author.id, content=content, created_at=utcnow())
    db.session.add(post)
    db.session.flush()  # the id
    body = _post_dicts([post])[0]
    emit(group_post_created, group_id=group_id, post_id=post.id, author_id=author.id,
         author_name=body["author_name"], content=post.content, created_at=body["created_at"])
    db.session.commit()
    return body


def list_posts(viewer: User, group_id: int) -> dict[str, Any]:
    """One page of a group's posts, newest first (members only)."""
    group = _get_group(group_id)
    require_member(group.id, viewer)
    posts, page = paginate(select(GroupPost).where(GroupPost.group_id == group_id)
                           .order_by(GroupPost.id.desc()))
    return {"items": _post_dicts(posts), **page}
