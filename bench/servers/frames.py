"""The event every server sends: one IT Cook frame of about 200 bytes, the same for all."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

#: Bytes of the encoded event (the JSON text, without WebSocket or SSE framing).
EVENT_BYTES = 200
_SAMPLE_TS = "2026-11-26T10:00:00.000Z"


def _data(seq: int, pad: str) -> dict[str, Any]:
    return {"title": "bench", "message": pad, "level": "info", "seq": seq}


def frame(seq: int, event_id: int, pad: str) -> dict[str, Any]:
    """The JSON object of a SystemNotification as IT Cook writes it (SPEC §3)."""
    ts = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": "SystemNotification", "id": event_id, "channel": "system", "ts": ts,
            "data": _data(seq, pad)}


def _padding() -> str:
    sample = {"type": "SystemNotification", "id": 100000, "channel": "system", "ts": _SAMPLE_TS,
              "data": _data(100000, "")}
    used = len(json.dumps(sample, separators=(",", ":")))
    return "x" * max(0, EVENT_BYTES - used)


#: The ``message`` text that brings the event to ``EVENT_BYTES`` (with 6-digit ids).
PAD = _padding()


def data(seq: int) -> dict[str, Any]:
    """The ``data`` of the bench event number ``seq``."""
    return _data(seq, PAD)
