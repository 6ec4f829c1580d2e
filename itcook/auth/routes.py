"""Auth views: register, login, refresh, me (and its settings)."""

from __future__ import annotations

from flask import Response, jsonify
from flask_jwt_extended import create_access_token, jwt_required

from itcook.auth import bp
from itcook.auth.services import authenticate, create_user, current_user, issue_tokens
from itcook.auth.throttle import check_attempt
from itcook.errors import ApiError
from itcook.extensions import db
from itcook.i18n import LANGUAGES
from itcook.validation import get_str, invalid_field, json_body


@bp.post("/register")
def register() -> tuple[Response, int]:
    """Create an account and return it with a token pair."""
    body = json_body()
    username = get_str(body, "username", max_len=32)
    password = get_str(body, "password", max_len=128, strip=False)
    display_name = get_str(body, "display_name", required=False, max_len=64)
    assert username is not None and password is not None
    check_attempt(username)
    user = create_user(username, password, display_name)
    return jsonify({"user": user.to_dict(), **issue_tokens(user)}), 201


@bp.post("/login")
def login() -> Response:
    """Exchange username and password for a token pair."""
    body = json_body()
    username = get_str(body, "username", max_len=32)
    password = get_str(body, "password", max_len=128, strip=False)
    assert username is not None and password is not None
    check_attempt(username)
    user = authenticate(username, password)
    return jsonify({"user": user.to_dict(), **issue_tokens(user)})


@bp.post("/refresh")
@jwt_required(refresh=True)
def refresh() -> Response:
    """Exchange a refresh token for a new access token."""
    user = current_user()
    if user is None:  # pragma: no cover - the lookup loader already answered 401
        raise ApiError(401, "user_inactive", "the user no longer exists")
    return jsonify({"access_token": create_access_token(identity=user)})


@bp.get("/me")
@jwt_required()
def me() -> Response:
    """Return the current user."""
    return jsonify(current_user().to_dict())


@bp.patch("/me")
@jwt_required()
def update_me() -> Response:
    """Change the current user's settings: ``language`` ("ru", "en", or null: the browser's)."""
    body = json_body()
    user = current_user()
    if "language" in body:
        language = body["language"]
        if language is not None and language not in LANGUAGES:
            raise invalid_field("language", "must be one of %(choices)s, or null",
                                choices=", ".join(LANGUAGES))
        user.language = language
    db.session.commit()
    return jsonify(user.to_dict())
