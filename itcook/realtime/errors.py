"""The plugin's error type and the JSON answers of its routes: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from werkzeug.exceptions import HTTPException


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


def _http_error(exc: HTTPException) -> Response:
    # "Method Not Allowed" -> "method_not_allowed": stable, derived from the standard phrase.
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    return error_response(exc.code or 500, code, exc.description or exc.name)


def register_error_handlers(app: Flask, bp: Blueprint) -> None:
    """JSON answers for ``RealtimeError`` wherever it is raised (only the plugin raises it: the
    root ``/metrics`` is outside the blueprint), and for HTTP errors in the plugin's views."""
    app.register_error_handler(RealtimeError, answer)
    if not bp._got_registered_once:  # a blueprint's handlers are set before its first use
        bp.register_error_handler(HTTPException, _http_error)
