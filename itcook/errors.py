"""The one error shape of the API: ``{"error": {"code", "message"}}``, and its handlers."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing.exceptions import WebsocketMismatch

from itcook.i18n import gettext
from itcook.realtime.errors import RealtimeError, answer, error_response
from itcook.signals import request_refused

log = logging.getLogger(__name__)


class ApiError(RealtimeError):
    """An error a view raises to answer with a JSON error body and a 4xx/5xx status (the
    real-time plugin's error type, whose shape the whole API shares).

    ``message`` is English and a msgid of the catalogs (docs/i18n.md): it is answered in the
    request's language, its ``%(name)s`` placeholders filled from ``params``. ``code`` never
    changes with the language.
    """

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None,
                 **params: object) -> None:
        super().__init__(status, code, gettext(message, **params), retry_after)


def _http_code(exc: HTTPException) -> str:
    # "Method Not Allowed" -> "method_not_allowed": stable, derived from the standard phrase.
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or Werkzeug's or the database's, with JSON."""

    app.register_error_handler(ApiError, answer)

    @app.errorhandler(WebsocketMismatch)
    def _not_websocket(exc: WebsocketMismatch) -> Response:
        # A plain HTTP request to a WebSocket-only route (or the reverse). Routing refused it
        # before any view saw it: the route's owner may want to count it.
        request_refused.send(current_app._get_current_object(), reason="websocket_required",
                             path=request.path)
        return error_response(400, "websocket_required", "this route only speaks WebSocket "
                              "(send Upgrade: websocket)")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, _http_code(exc), exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(SQLAlchemyError)
    def _db_error(exc: SQLAlchemyError) -> Response:
        # Roll back so nothing half-written survives, then answer without internals.
        from itcook.extensions import db  # here: extensions imports the plugin, which imports us

        db.session.rollback()
        log.exception("database error")
        return error_response(500, "database_error", "the database could not complete the request")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        from itcook.extensions import db

        db.session.rollback()
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
