"""Calls: group members cook together on video, a WebRTC full mesh signalled through the
real-time plugin (docs/calls.md)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("calls", __name__, url_prefix="/api/v1")

from itcook.calls import routes  # noqa: E402,F401  (routes attach to bp)

__all__ = ["bp"]
