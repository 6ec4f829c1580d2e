"""Monitoring routes: the live status page, its JSON feed, and Prometheus ``/metrics``.

The page itself (``/status``) is static and public: it holds no data. It asks for an admin
login (or takes a token from the URL *fragment*, which never reaches a server or its logs) and
then polls ``/status/data`` with ``Authorization: Bearer``; that feed answers only admins.
"""

from __future__ import annotations

import hmac
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, request, send_file

from itcook.realtime import metrics, timeline
from itcook.realtime.auth import authenticate
from itcook.realtime.errors import RealtimeError
from itcook.realtime.events import utc_ts
from itcook.realtime.state import RealtimeState
from itcook.realtime.views import bp

ASSETS = Path(__file__).parent / "static"

#: The page runs only its own script and talks only to this server.
_STATUS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")


def _state() -> RealtimeState:
    return current_app.extensions["realtime"]  # type: ignore[no-any-return]


def _asset(name: str, mimetype: str) -> Response:
    response = send_file(ASSETS / name, mimetype=mimetype, max_age=0)
    response.headers["Content-Security-Policy"] = _STATUS_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/status")
def status_page() -> Response:
    """The live status page (HTML); it loads its numbers from ``/status/data`` as an admin."""
    return _asset("status.html", "text/html")


@bp.get("/status/status.js")
def status_script() -> Response:
    """The status page's script."""
    return _asset("status.js", "text/javascript")


@bp.get("/status/data")
def status_data() -> Response:
    """Everything the status page shows (admins only): ``/stats`` plus charts and analytics."""
    state = _state()
    principal = authenticate(request, state.tickets, state.load_principal, state.verified_tokens)
    if not principal.is_admin:
        raise RealtimeError(403, "forbidden", "the status page is for administrators")
    return jsonify(status_body(state))


def status_body(state: RealtimeState, now: float | None = None) -> dict[str, Any]:
    """The cluster's statistics, reshaped for the page: rates per second and a per-day table."""
    now = time.time() if now is None else now
    snap = state.cluster_snapshot()
    events = snap.pop("events_per_interval", {})
    deliveries = snap.pop("deliveries_per_interval", {})
    return {
        **snap,
        "uptime_seconds": round(now - state.started_at, 3),
        "broker_connected": state.broker.connected,
        "events_by_day": by_day(snap.pop("events_by_day", {})),
        "series": {"step": timeline.STEP, "events": timeline.series(events, now=now),
                   "deliveries": timeline.series(deliveries, now=now)},
        "generated_at": utc_ts(),
    }


def by_day(flat: dict[str, int]) -> dict[str, dict[str, int]]:
    """``{"2026-11-26/NewComment": 3}`` → ``{"2026-11-26": {"NewComment": 3}}``, newest day first."""
    days: dict[str, dict[str, int]] = defaultdict(dict)
    for key, count in flat.items():
        day, _, event_type = key.partition("/")
        days[day][event_type] = count
    return {day: dict(sorted(days[day].items())) for day in sorted(days, reverse=True)}


@bp.get("/metrics")
def metrics_view() -> Response:
    """Prometheus exposition of the real-time layer (also at the app root with ``root_metrics``)."""
    state = _state()
    token = state.config.get("metrics_token") or ""
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise RealtimeError(401, "invalid_token", "send Authorization: Bearer <REALTIME_METRICS_TOKEN>")
    body, content_type = metrics.render(state, request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def mount_root_metrics(app: Flask) -> None:
    """Serve ``/metrics`` at the app root too (Prometheus' default path): opt-in, since a host
    may have its own there; one already taken is an error, not a silent shadow."""
    if any(rule.rule == "/metrics" for rule in app.url_map.iter_rules()):
        if "realtime_metrics" in app.view_functions:
            return
        raise RuntimeError("REALTIME_ROOT_METRICS: the app already serves /metrics")
    app.add_url_rule("/metrics", "realtime_metrics", metrics_view)
