"""The plugin's routes: ``/ws``, ``/sse``, ``/ticket``, ``/stats``.

``/status`` and ``/metrics`` are in monitor.py, imported at the end to attach to the same blueprint.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from simple_websocket import Server

from itcook.realtime import sse, websocket
from itcook.realtime.auth import Principal, authenticate, check_origin
from itcook.realtime.channels import DEFAULT_CHANNELS
from itcook.realtime.errors import RealtimeError, own_blueprint_errors
from itcook.realtime.events import ProtocolError
from itcook.realtime.state import RealtimeState
from itcook.realtime.takeover import TakenOver, take_socket

# Mounted at the ``url_prefix`` setting (``/api/v1/realtime`` by default).
bp = Blueprint("realtime", __name__)
own_blueprint_errors(bp)


def _state() -> RealtimeState:
    return current_app.extensions["realtime"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Admission:
    """What a stream was admitted with: who, which channels, and where to resume from."""

    principal: Principal
    channels: list[str]
    after_id: int | None
    dropped: dict[str, list[str]]  # reason -> channel names not joined (sent as Unsubscribed)


def _last_event_id() -> int | None:
    raw = request.args.get("last_event_id")
    if raw is None:
        raw = request.headers.get("Last-Event-ID")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise RealtimeError(400, "invalid_last_event_id",
                       "last_event_id / Last-Event-ID must be a non-negative integer event id")
    return int(raw)


def _channels(state: RealtimeState, principal: Principal) -> tuple[list[str], dict[str, list[str]]]:
    """The channel keys to join, and the ``<prefix>:<id>`` channels dropped, by reason.

    A malformed name or another user's personal channel refuses the connection. A post or group
    channel that is gone or no longer open to the user (a group left while offline) is only
    dropped: the stream opens with an ``Unsubscribed`` frame saying so, and a client that
    reconnects with its old list does not meet a refusal it cannot see (browsers hide it).
    """
    raw = request.args.get("channels")
    names = DEFAULT_CHANNELS if raw is None else [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise RealtimeError(400, "invalid_channels", "channels must name at least one channel")
    if len(names) > state.config["max_subscriptions"]:
        raise RealtimeError(400, "too_many_subscriptions",
                       f"at most {state.config['max_subscriptions']} channels")
    keys: list[str] = []
    dropped: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        try:
            keys.append(state.resolve_channel(principal, name))
        except ProtocolError as exc:
            scoped = name.split(":")[0] in state.authorizers
            if scoped and exc.code in ("forbidden_channel", "channel_not_found"):
                reason = "access_revoked" if exc.code == "forbidden_channel" else "channel_not_found"
                dropped.setdefault(reason, []).append(name)
                state.hub.stats.errors[exc.code] += 1
                continue
            status = 403 if exc.code == "forbidden_channel" else 400
            raise RealtimeError(status, exc.code, exc.message) from None
    return keys, dropped


def admit() -> Admission:
    """Everything checked before a stream is accepted: origin, credential, cap, channels, resume."""
    state = _state()
    try:
        if state.closing:
            # Its streams were closed with 1001: one accepted now would be left behind.
            raise RealtimeError(503, "shutting_down", "the server is shutting down; reconnect")
        check_origin(request, state.config["allowed_origins"])
        after_id = _last_event_id()
        principal = authenticate(request, state.tickets, state.load_principal, state.verified_tokens)
        cap = state.config["max_connections_per_user"]
        # A slot is reserved now and counts until the stream joins the hub (or the request
        # ends): simultaneous handshakes of one user, here or in other processes, cannot all
        # pass the cap.
        if not state.reserve_connection(principal.user_id):
            raise RealtimeError(429, "too_many_connections", f"at most {cap} connections per user")
        g.realtime_reserved = principal.user_id
        channels, dropped = _channels(state, principal)
    except RealtimeError as exc:
        state.hub.stats.handshake_failures[exc.code] += 1
        raise
    return Admission(principal, channels, after_id, dropped)


#: Refusals of the HTTP layer that count as this plugin's handshake failures whatever the path:
#: the request never got far enough to say where it was going.
_HTTP_REFUSALS = frozenset({"malformed_request", "header_timeout"})


def count_http_refusal(app: Flask, reason: str, path: str | None = None, **_: Any) -> None:
    """Receiver of ``signals.request_refused``: count the refusals aimed at the plugin."""
    state = app.extensions.get("realtime")
    if state is None:
        return
    if reason in _HTTP_REFUSALS or (path is not None
                                    and path.rstrip("/") == f"{state.config['url_prefix']}/ws"):
        state.hub.stats.handshake_failures[reason] += 1


def _stream_joins() -> None:
    """End this request's slot reservation: its stream joins the hub next, without yielding."""
    user_id = g.pop("realtime_reserved", None)
    if user_id is not None:
        _state().hub.release(user_id)


@bp.teardown_request
def _release_reservation(_exc: BaseException | None) -> None:
    _stream_joins()  # the admission failed after the reservation (channels, handshake)


def _valid_key(key: str) -> bool:
    """RFC 6455 §4.2.1: the key is the base64 encoding of 16 bytes (24 characters)."""
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        return False


#: The request headers simple-websocket's handshake is given (Sec-WebSocket-Protocol: the reply
#: names the subprotocol; not Sec-WebSocket-Extensions: no compression).
_HANDSHAKE_HEADERS = frozenset({"HTTP_HOST", "HTTP_UPGRADE", "HTTP_CONNECTION", "HTTP_SEC_WEBSOCKET_KEY",
                                "HTTP_SEC_WEBSOCKET_VERSION", "HTTP_SEC_WEBSOCKET_PROTOCOL"})


@bp.before_request
def _before_websocket() -> None:
    if request.endpoint != "realtime.ws":
        return
    # A request without Upgrade: websocket never gets here: routing answers websocket_required.
    if request.headers.get("Sec-WebSocket-Version") != "13" or not _valid_key(
            request.headers.get("Sec-WebSocket-Key", "")):
        _state().hub.stats.handshake_failures["bad_handshake"] += 1
        raise RealtimeError(400, "bad_handshake",
                            "Sec-WebSocket-Key and Sec-WebSocket-Version: 13 are required")
    g.realtime_admission = admit()
    # simple-websocket rebuilds the request from every HTTP_* key and parses it again; it
    # gets the handshake's own headers only. The rest (Authorization, cookies, user agent)
    # would cost parsing time and stay in memory as long as the connection; and without
    # Sec-WebSocket-Extensions the handshake declines permessage-deflate, which would compress
    # each frame per client (no encode-once) and triple the memory of a connection.
    environ = request.environ
    for key in [k for k in environ if k.startswith("HTTP_") and k not in _HANDSHAKE_HEADERS]:
        del environ[key]
    # Hand simple-websocket the server's own socket: under gevent it would otherwise dup() it
    # and every connection would hold two descriptors (and a process half as many clients).
    request.environ["werkzeug.socket"] = take_socket(request.environ)
    # The handshake used the request's database session; a long-lived socket must not hold it.
    _state().release_session()


@bp.route("/ws", websocket=True)
def ws() -> Response:
    """WebSocket endpoint (RFC 6455): events of the subscribed channels, client frames of SPEC §3."""
    admission: Admission = g.realtime_admission
    # The plugin's own handshake options (not the app's SOCK_SERVER_OPTIONS: a host's own
    # flask-sock routes keep theirs).
    ws_server = Server(request.environ, **websocket.SERVER_OPTIONS)
    _stream_joins()
    websocket.run(ws_server, _state(), admission.principal, admission.channels, admission.after_id,
                  admission.dropped)
    # The socket was written to directly: the server must add nothing (gunicorn: the request
    # is handled; gevent: nothing more to write).
    return TakenOver("gunicorn" if "gunicorn.socket" in request.environ else "gevent")


@bp.get("/sse")
def sse_stream() -> Response:
    """Server-Sent Events fallback: the same events as the WebSocket, one SSE message each."""
    admission = admit()
    _state().release_session()  # a long-lived stream must not hold the request's database session
    _stream_joins()
    return sse.run(request.environ, _state(), admission.principal, admission.channels,
                   admission.after_id, request.headers.get("Origin"), admission.dropped)


def _bearer_principal(state: RealtimeState) -> Principal:
    """The active principal of the request's ``Authorization: Bearer`` token, or a 401."""
    return authenticate(request, state.tickets, state.load_principal, state.verified_tokens,
                        header_only=True)


@bp.post("/ticket")
def ticket() -> tuple[Response, int]:
    """Issue a short-lived, single-use ticket for browsers (``?ticket=`` on /ws and /sse)."""
    state = _state()
    principal = _bearer_principal(state)
    cap = state.config["max_tickets_per_user"]
    # The token was checked against its user's session just now: the ticket inherits it.
    value = state.tickets.issue(principal.user_id, cap, principal.session)
    if value is None:
        raise RealtimeError(429, "too_many_tickets", f"at most {cap} unused tickets per user; "
                       f"use one or let it expire ({int(state.config['ticket_ttl'])} s)")
    return jsonify({"ticket": value, "expires_in": int(state.config["ticket_ttl"])}), 201


def _human(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h", f"{minutes}m", f"{secs}s"] if days or hours else [f"{minutes}m", f"{secs}s"]
    return " ".join(parts)


@bp.get("/stats")
def stats() -> Response:
    """Connection and event statistics of the real-time layer (any authenticated user)."""
    state = _state()
    _bearer_principal(state)
    uptime = time.time() - state.started_at
    body = {**state.cluster_snapshot(), "uptime": _human(uptime), "uptime_seconds": round(uptime, 3),
            "broker_connected": state.broker.connected}
    return jsonify(body)


# /status, /status/data and /metrics live in their own module; they attach to bp on import.
from itcook.realtime import monitor  # noqa: E402,F401
