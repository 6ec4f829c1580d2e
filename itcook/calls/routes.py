"""Call views: ICE servers, starting a group's call, joining, leaving, reading one."""

from __future__ import annotations

from flask import Response, current_app, jsonify
from flask_jwt_extended import jwt_required

from itcook.auth.services import current_user
from itcook.calls import bp, services
from itcook.calls.ice import ice_servers
from itcook.realtime.errors import error_response


@bp.errorhandler(services.CallInProgress)
def _in_progress(exc: services.CallInProgress) -> Response:
    return error_response(exc.status, exc.code, exc.message, call=exc.call)


@bp.get("/calls/ice-servers")
@jwt_required()
def get_ice_servers() -> Response:
    """STUN/TURN entries for RTCPeerConnection; TURN credentials last ``ttl`` seconds."""
    return jsonify(ice_servers(current_app.config, current_user().id))


@bp.post("/groups/<int:group_id>/calls")
@jwt_required()
def start_call(group_id: int) -> tuple[Response, int]:
    """Start the group's call (members only; 409 ``call_in_progress`` names the live one)."""
    return jsonify(services.start_call(current_user(), group_id)), 201


@bp.get("/groups/<int:group_id>/calls")
@jwt_required()
def list_calls(group_id: int) -> Response:
    """The group's calls, newest first (members only)."""
    return jsonify(services.list_calls(current_user(), group_id))


@bp.get("/calls/<int:call_id>")
@jwt_required()
def get_call(call_id: int) -> Response:
    """One call with its participants (members of its group only)."""
    return jsonify(services.get_call(current_user(), call_id))


@bp.post("/calls/<int:call_id>/join")
@jwt_required()
def join_call(call_id: int) -> Response:
    """Join: ``{call, participants, ice_servers, ttl}``; 409 ``call_full``, ``call_ended``."""
    user = current_user()
    call = services.join_call(user, call_id, services.max_participants())
    return jsonify({"call": call, "participants": call["participants"],
                    **ice_servers(current_app.config, user.id)})


@bp.post("/calls/<int:call_id>/leave")
@jwt_required()
def leave_call(call_id: int) -> Response:
    """Leave (idempotent); the last to leave ends the call."""
    return jsonify(services.leave_call(current_user(), call_id))
