"""Group views: groups, membership, invitations, posts."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.groups import bp, services
from itcook.validation import get_bool, get_int, get_str, json_body, query_bool


@bp.post("")
@jwt_required()
def create_group() -> tuple[Response, int]:
    """Create a group (``open``: anyone may join; default closed, by invitation)."""
    body = json_body()
    name = get_str(body, "name", max_len=services.NAME_MAX)
    description = get_str(body, "description", required=False, min_len=0,
                          max_len=services.DESCRIPTION_MAX, default="")
    assert name is not None and description is not None
    return jsonify(services.create_group(current_user(), name, description, get_bool(body, "open"))), 201


@bp.get("")
@jwt_required()
def list_groups() -> Response:
    """Every group, newest first; ``?mine=true`` keeps the caller's groups."""
    return jsonify(services.list_groups(current_user(), query_bool("mine")))


@bp.get("/<int:group_id>")
@jwt_required()
def get_group(group_id: int) -> Response:
    """One group."""
    return jsonify(services.get_group(current_user(), group_id))


@bp.delete("/<int:group_id>")
@jwt_required()
def delete_group(group_id: int) -> tuple[str, int]:
    """Delete a group and everything in it (owner only)."""
    services.delete_group(current_user(), group_id)
    return "", 204


@bp.post("/<int:group_id>/join")
@jwt_required()
def join_group(group_id: int) -> tuple[Response, int]:
    """Join an open group or accept an invitation: 201 when newly joined, 200 if a member already."""
    state, joined = services.join_group(current_user(), group_id)
    return jsonify(state), 201 if joined else 200


@bp.post("/<int:group_id>/leave")
@jwt_required()
def leave_group(group_id: int) -> Response:
    """Leave a group (idempotent; the owner cannot leave)."""
    user = current_user()
    return jsonify(services.remove_member(user, group_id, user.id))


@bp.get("/<int:group_id>/members")
@jwt_required()
def list_members(group_id: int) -> Response:
    """A group's members (members only)."""
    return jsonify(services.list_members(current_user(), group_id))


@bp.delete("/<int:group_id>/members/<int:user_id>")
@jwt_required()
def remove_member(group_id: int, user_id: int) -> Response:
    """The owner removes a member (or a member removes themself: leaving)."""
    return jsonify(services.remove_member(current_user(), group_id, user_id))


@bp.post("/<int:group_id>/invites")
@jwt_required()
def invite(group_id: int) -> tuple[Response, int]:
    """The owner invites a user: 201 for a new invitation, 200 if already invited."""
    user_id = get_int(json_body(), "user_id")
    assert user_id is not None
    state, created = services.invite(current_user(), group_id, user_id)
    return jsonify(state), 201 if created else 200


@bp.get("/<int:group_id>/invites")
@jwt_required()
def list_invites(group_id: int) -> Response:
    """Pending invitations of a group (owner only)."""
    return jsonify(services.list_invites(current_user(), group_id))


@bp.delete("/<int:group_id>/invites/<int:user_id>")
@jwt_required()
def cancel_invite(group_id: int, user_id: int) -> tuple[str, int]:
    """The owner revokes an invitation or the invited user declines it."""
    services.cancel_invite(current_user(), group_id, user_id)
    return "", 204


@bp.post("/<int:group_id>/posts")
@jwt_required()
def create_post(group_id: int) -> tuple[Response, int]:
    """Post to a group (members only) → NewGroupPost on ``group:<id>``."""
    content = get_str(json_body(), "content", max_len=services.POST_MAX)
    assert content is not None
    return jsonify(services.create_post(current_user(), group_id, content)), 201


@bp.get("/<int:group_id>/posts")
@jwt_required()
def list_posts(group_id: int) -> Response:
    """A group's posts, newest first (members only)."""
    return jsonify(services.list_posts(current_user(), group_id))
