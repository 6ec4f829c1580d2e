"""The one error shape of the API: ``{"error": {"code", "message"}}``, and its handlers."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing.exceptions import WebsocketMismatch

from itcook.i18n import N_, gettext
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


#: Werkzeug's errors in our words (its own descriptions are English only), by status.
HTTP_MESSAGES: dict[int, str] = {
    400: N_("the request is malformed"),
    404: N_("no such resource"),
    405: N_("this method is not allowed here"),
    406: N_("no acceptable representation"),
    413: N_("the request body is too large"),
    414: N_("the URL is too long"),
    415: N_("unsupported media type"),
    431: N_("the request headers are too large"),
}


def _http_message(exc: HTTPException) -> str:
    # A description given where it was raised is ours: a msgid; Werkzeug's default is not.
    if exc.description and exc.description != type(exc).description:
        return gettext(exc.description)
    default = HTTP_MESSAGES.get(exc.code or 500)
    return gettext(default) if default else (exc.description or exc.name)


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
        return error_response(400, "websocket_required", gettext(
            "this route only speaks WebSocket (send Upgrade: websocket)"))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, _http_code(exc), _http_message(exc))
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(SQLAlchemyError)
    def _db_error(exc: SQLAlchemyError) -> Response:
        # Roll back so nothing half-written survives, then answer without internals.
        from itcook.extensions import db  # here: extensions imports the plugin, which imports us

        db.session.rollback()
        log.exception("database error")
        return error_response(500, "database_error",
                              gettext("the database could not complete the request"))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        from itcook.extensions import db

        db.session.rollback()
        log.exception("unhandled error")
        return error_response(500, "internal_error", gettext("internal server error"))
