"""Merging the statistics of several processes into the one view ``/stats`` shows."""

from __future__ import annotations

from collections import Counter
from typing import Any

#: Keys that describe one process and are not summed.
_PER_PROCESS = {"process_id", "uptime_seconds", "broker_connected"}


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum numbers and per-key counters over processes; list each process briefly."""
    merged: dict[str, Any] = {}
    for snapshot in snapshots:
        for key, value in snapshot.items():
            if key in _PER_PROCESS:
                continue
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                merged[key] = merged.get(key, 0) + value
            elif isinstance(value, dict):
                total = merged.setdefault(key, Counter())
                total.update({k: v for k, v in value.items() if isinstance(v, int | float)})
    for key, value in merged.items():
        if isinstance(value, Counter):
            merged[key] = dict(value)
    merged["processes_reporting"] = len(snapshots)
    merged["processes"] = [{"process_id": s.get("process_id"), "uptime_seconds": s.get("uptime_seconds"),
                            "connected_clients": s.get("connected_clients", 0),
                            "broker_connected": s.get("broker_connected", True)} for s in snapshots]
    return merged
