"""The one error shape of the API: ``{"error": {"code", "message"}}``, and its handlers."""

from __future__ import annotations

import logging

from flask import Flask, Response
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from itcook.realtime.errors import RealtimeError, answer, error_response, http_error

log = logging.getLogger(__name__)


class ApiError(RealtimeError):
    """An error a view raises to answer with a JSON error body and a 4xx/5xx status (the
    real-time plugin's error type, whose shape the whole API shares)."""


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or Werkzeug's or the database's, with JSON."""

    app.register_error_handler(ApiError, answer)
    app.register_error_handler(HTTPException, http_error)

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
