"""The browser-facing pages of the app itself: the web client at ``/``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, send_from_directory

bp = Blueprint("web", __name__)


@bp.get("/")
def demo() -> Response:
    """The web client (static/index.html, docs/web.md): the whole app, live, in the user's language."""
    assert current_app.static_folder is not None
    response = send_from_directory(current_app.static_folder, "index.html", max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
