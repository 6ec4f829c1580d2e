"""Broadcast views: lifecycle (host only), steps, chat and its moderation, media."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.broadcasts import bp, media, services
from itcook.validation import get_int, get_str, json_body


@bp.post("")
@jwt_required()
def create_live() -> tuple[Response, int]:
    """A scheduled broadcast: ``title``, ``steps`` (texts) or a ``recipe_id`` to take them from."""
    body = json_body()
    title = get_str(body, "title", max_len=services.TITLE_MAX)
    steps = services.parse_steps(body["steps"]) if body.get("steps") is not None else None
    recipe_id = get_int(body, "recipe_id", required=False)
    assert title is not None
    return jsonify(services.create(current_user(), title, steps, recipe_id)), 201


@bp.get("")
@jwt_required()
def list_live() -> Response:
    """Broadcasts live now, then the scheduled ones (paginated)."""
    return jsonify(services.list_current())


@bp.get("/<int:live_id>")
@jwt_required()
def show_live(live_id: int) -> Response:
    """One broadcast, whatever its status."""
    return jsonify(services.to_dict(services.get(live_id)))


@bp.post("/<int:live_id>/start")
@jwt_required()
def start_live(live_id: int) -> Response:
    """The host goes live: LiveStarted to community and every follower."""
    return jsonify(services.start(current_user(), live_id))


@bp.post("/<int:live_id>/end")
@jwt_required()
def end_live(live_id: int) -> Response:
    """The host ends the broadcast: LiveEnded."""
    return jsonify(services.end(current_user(), live_id))


@bp.post("/<int:live_id>/step")
@jwt_required()
def set_step(live_id: int) -> Response:
    """The host shows step ``index`` (from 0): LiveStep."""
    index = get_int(json_body(), "index", minimum=0, maximum=services.STEPS_MAX)
    assert index is not None
    return jsonify(services.step(current_user(), live_id, index))


@bp.post("/<int:live_id>/chat")
@jwt_required()
def post_chat(live_id: int) -> tuple[Response, int]:
    """A chat message while live: LiveChat (durable)."""
    text = get_str(json_body(), "text", max_len=services.CHAT_MAX)
    assert text is not None
    return jsonify(services.chat(current_user(), live_id, text)), 201


@bp.delete("/<int:live_id>/chat/<int:message_id>")
@jwt_required()
def delete_chat(live_id: int, message_id: int) -> tuple[str, int]:
    """The host deletes a message: LiveChatDeleted."""
    services.delete_chat(current_user(), live_id, message_id)
    return "", 204


@bp.post("/<int:live_id>/mute")
@jwt_required()
def mute(live_id: int) -> Response:
    """The host mutes a viewer (``user_id``): their chat is refused (403 ``muted``)."""
    user_id = get_int(json_body(), "user_id")
    assert user_id is not None
    return jsonify(services.mute(current_user(), live_id, user_id))


@bp.get("/<int:live_id>/media")
@jwt_required()
def get_media(live_id: int) -> Response:
    """How the caller sends (host) or receives (viewer) the video (docs/live.md)."""
    return jsonify(media.answer(current_user(), live_id))
