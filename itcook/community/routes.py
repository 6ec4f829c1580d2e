"""Community views: posts, likes, comments, follows and public profiles."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.community import bp, services
from itcook.validation import get_str, json_body, query_int


@bp.post("/posts")
@jwt_required()
def create_post() -> tuple[Response, int]:
    """Publish a post."""
    content = get_str(json_body(), "content", max_len=services.POST_MAX_LEN)
    assert content is not None
    return jsonify(services.create_post(current_user(), content)), 201


@bp.get("/posts")
@jwt_required()
def list_posts() -> Response:
    """The feed, newest first; ``?author_id=`` keeps one author's posts."""
    author_id = query_int("author_id", 0, minimum=1) if "author_id" in request.args else None
    return jsonify(services.list_posts(current_user(), author_id))


@bp.get("/posts/<int:post_id>")
@jwt_required()
def get_post(post_id: int) -> Response:
    """One post."""
    return jsonify(services.get_post(current_user(), post_id))


@bp.post("/posts/<int:post_id>/like")
@jwt_required()
def like_post(post_id: int) -> tuple[Response, int]:
    """Like a post: 201 for a new like, 200 if it was already liked."""
    state, created = services.like_post(current_user(), post_id)
    return jsonify(state), 201 if created else 200


@bp.delete("/posts/<int:post_id>/like")
@jwt_required()
def unlike_post(post_id: int) -> Response:
    """Remove one's like from a post."""
    return jsonify(services.unlike_post(current_user(), post_id))


@bp.post("/posts/<int:post_id>/comments")
@jwt_required()
def add_comment(post_id: int) -> tuple[Response, int]:
    """Comment on a post."""
    content = get_str(json_body(), "content", max_len=services.COMMENT_MAX_LEN)
    assert content is not None
    return jsonify(services.add_comment(current_user(), post_id, content)), 201


@bp.get("/posts/<int:post_id>/comments")
@jwt_required()
def list_comments(post_id: int) -> Response:
    """A post's comments, oldest first."""
    return jsonify(services.list_comments(post_id))


@bp.post("/users/<int:user_id>/follow")
@jwt_required()
def follow_user(user_id: int) -> tuple[Response, int]:
    """Follow a user: 201 for a new follow, 200 if already following."""
    state, created = services.follow_user(current_user(), user_id)
    return jsonify(state), 201 if created else 200


@bp.delete("/users/<int:user_id>/follow")
@jwt_required()
def unfollow_user(user_id: int) -> Response:
    """Stop following a user."""
    return jsonify(services.unfollow_user(current_user(), user_id))


@bp.get("/users/<int:user_id>")
@jwt_required()
def public_profile(user_id: int) -> Response:
    """A user's public profile."""
    return jsonify(services.public_profile(current_user(), user_id))
