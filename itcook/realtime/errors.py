"""The plugin's error type and the JSON answers of its routes: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging
from functools import partial

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

from itcook.realtime.signals import request_refused

log = logging.getLogger(__name__)


class RealtimeError(Exception):
    """A refusal of one of the plugin's routes: an HTTP status and a stable ``code``."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds: sent as Retry-After and error.retry_after


def error_response(status: int, code: str, message: str, **extra: object) -> Response:
    """The JSON error response of the plugin's routes (the shape IT Cook's API uses too)."""
    response = jsonify({"error": {"code": code, "message": message, **extra}})
    response.status_code = status
    return response


def answer(exc: RealtimeError) -> Response:
    """The JSON response of ``exc``, with ``Retry-After`` when it has one."""
    if exc.retry_after is None:
        return error_response(exc.status, exc.code, exc.message)
    response = error_response(exc.status, exc.code, exc.message, retry_after=exc.retry_after)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def http_error(exc: HTTPException) -> Response:
    """The JSON answer of an HTTP error (``Allow`` with a 405)."""
    # "Method Not Allowed" -> "method_not_allowed": stable, derived from the standard phrase.
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    response = error_response(exc.code or 500, code, exc.description or exc.name)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def _database_error(exc: SQLAlchemyError) -> Response:
    # Nothing half-written survives: the host's session (if it has one) is rolled back.
    state = current_app.extensions.get("realtime")
    if state is not None:
        state.release_session()
    log.exception("realtime: database error in %s %s", request.method, request.path)
    return error_response(500, "database_error", "the database could not complete the request")


def _internal_error(exc: Exception) -> Response:
    log.exception("realtime: %s %s failed", request.method, request.path)
    return error_response(500, "internal_error", "internal server error")


def _websocket_required() -> Response:
    # Routing refused a plain HTTP request to the WebSocket route: counted with the handshakes.
    request_refused.send(current_app._get_current_object(),  # type: ignore[attr-defined]
                         reason="websocket_required", path=request.path)
    return error_response(400, "websocket_required",
                          "this route only speaks WebSocket (send Upgrade: websocket)")


def _routing_error(url_prefix: str) -> Response | None:
    """Before any view: a URL under the plugin's prefix that routing refused (no such route,
    wrong method, not a WebSocket) is answered here, since no view of the blueprint (and so
    none of its handlers) will see it; the host's own URLs keep the host's answers."""
    exc = request.routing_exception
    if exc is None or not (request.path == url_prefix or request.path.startswith(url_prefix + "/")):
        return None
    if isinstance(exc, WebsocketMismatch):
        return _websocket_required()
    if isinstance(exc, HTTPException):
        return http_error(exc)
    return None  # a redirect (a missing trailing slash): routing's own answer


def register_error_handlers(app: Flask, url_prefix: str) -> None:
    """JSON answers on ``app`` for ``RealtimeError`` wherever it is raised (only the plugin
    raises it: the root ``/metrics`` is outside the blueprint) and for routing errors under
    ``url_prefix``, whatever the host's own handlers (or their absence) say."""
    app.register_error_handler(RealtimeError, answer)
    app.before_request(partial(_routing_error, url_prefix.rstrip("/")))


def own_blueprint_errors(bp: Blueprint) -> None:
    """JSON answers for HTTP errors and unexpected exceptions in the plugin's views."""
    # The blueprint's handlers are looked up before the app's for every class of the
    # exception: RealtimeError must be named here too, or ``Exception`` would take it.
    bp.register_error_handler(RealtimeError, answer)
    bp.register_error_handler(HTTPException, http_error)
    bp.register_error_handler(SQLAlchemyError, _database_error)
    bp.register_error_handler(Exception, _internal_error)
