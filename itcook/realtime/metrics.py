"""Prometheus metrics of the real-time layer, read from the live counters at scrape time.

No ``prometheus_client.Counter`` is incremented anywhere: the hub already counts everything
(``hub.Stats``), so a custom collector turns the statistics snapshots into metric families when
Prometheus scrapes. That makes multi-process gunicorn correct without ``PROMETHEUS_MULTIPROC_DIR``:

- every process reports its snapshot to the cluster store (``share_stats``, every
  ``ITCOOK_REALTIME_STATS_INTERVAL`` seconds), so whichever worker answers a scrape exposes the
  series of **every** live process, each labelled ``process="<host>:<pid>:<nonce>"``;
- each process's counters only ever go up, so ``rate()`` and ``increase()`` work per series, and
  ``sum without (process) (...)`` gives the cluster's total;
- a process that exits stops reporting and its series go stale, as Prometheus expects of a
  vanished target — unlike a pre-summed total, which would drop and look like a counter reset.

The answering process's own numbers are read live; the others' are at most one report old.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from itcook.realtime.events import CLOSE_REASONS

log = logging.getLogger(__name__)

PREFIX = "itcook_realtime"
_CODE_OF_REASON = {reason: str(code) for code, reason in CLOSE_REASONS.items()}

#: (snapshot key, metric name, help, label name) of the per-key counters.
_COUNTERS = (
    ("events_by_type", "events", "Events published, by type", "type"),
    ("deliveries_by_type", "deliveries", "Frames written to clients (live fan-out), by event type", "type"),
    ("connections_total", "connections_opened", "Streams accepted, by transport", "transport"),
    ("handshake_failures_by_reason", "handshake_failures", "Refused connection attempts, by error code",
     "reason"),
    ("errors_by_code", "protocol_errors", "Error frames sent to clients, by code", "code"),
    ("replays", "replays", "Resumes from a last event id, by result (recovered/incomplete)", "result"),
)
#: (snapshot key, metric name, help) of the plain counters.
_TOTALS = (
    ("replayed_events", "replayed_events", "Events replayed to resuming clients (log or memory)"),
    ("replays_from_memory", "replays_from_memory",
     "Resumes answered from the window of recent events instead of the log"),
    ("slow_consumer_drops", "slow_consumer_drops",
     "Connections closed because they could not keep up (4002)"),
    ("events_from_log", "events_from_log",
     "Events the sequencer read from the log because their broker message did not come"),
    ("event_ids_skipped", "event_ids_skipped",
     "Event ids given up after ITCOOK_REALTIME_GAP_WAIT (rolled back, or committed too late)"),
    ("events_late", "events_late",
     "Events committed after their id was skipped: not delivered live by this process"),
)


def process_snapshots(state: Any) -> list[dict[str, Any]]:
    """This process's live snapshot, then the latest of every other live process (cluster store)."""
    mine = state.snapshot()
    try:
        others = [s for s in state.cluster.gather_stats() if s.get("process_id") != mine["process_id"]]
    except Exception:  # a broker outage must not break the scrape: report what we know
        log.warning("metrics: cannot gather other processes' statistics", exc_info=True)
        others = []
    return [mine, *others]


class RealtimeCollector:
    """A prometheus_client collector over the statistics snapshots of every process."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def describe(self) -> list[Metric]:
        """Nothing to pre-describe: metrics are produced at scrape time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family, one sample per process (and label value)."""
        snapshots = process_snapshots(self.state)
        families = _families()
        for snap in snapshots:
            process = str(snap.get("process_id", "unknown"))
            families["connections"].add_metric([process, "websocket"],
                                               snap.get("connections_by_transport", {}).get("websocket", 0))
            families["connections"].add_metric([process, "sse"],
                                               snap.get("connections_by_transport", {}).get("sse", 0))
            families["connected_users"].add_metric([process], snap.get("connected_users", 0))
            families["typing_states"].add_metric([process], snap.get("typing_states", 0))
            families["broker_connected"].add_metric([process], 1 if snap.get("broker_connected", True) else 0)
            families["uptime_seconds"].add_metric([process], snap.get("uptime_seconds", 0))
            for channel, count in sorted(snap.get("subscribers_by_channel", {}).items()):
                families["subscribers"].add_metric([process, channel], count)
            for reason, count in sorted(snap.get("disconnects_by_reason", {}).items()):
                families["disconnects"].add_metric([process, reason, _CODE_OF_REASON.get(reason, "none")],
                                                   count)
            for key, name, _help, _label in _COUNTERS:
                for value, count in sorted(snap.get(key, {}).items()):
                    families[name].add_metric([process, value], count)
            for key, name, _help in _TOTALS:
                families[name].add_metric([process], snap.get(key, 0))
        families["processes_reporting"].add_metric([], len(snapshots))
        yield from families.values()


def _families() -> dict[str, Metric]:
    p = ["process"]
    families: dict[str, Metric] = {
        "connections": GaugeMetricFamily(f"{PREFIX}_connections", "Open streams, by transport",
                                         labels=[*p, "transport"]),
        "connected_users": GaugeMetricFamily(f"{PREFIX}_connected_users", "Users with an open stream",
                                             labels=p),
        "subscribers": GaugeMetricFamily(f"{PREFIX}_subscribers",
                                         "Channel memberships, by channel kind (personal summed)",
                                         labels=[*p, "channel"]),
        "typing_states": GaugeMetricFamily(f"{PREFIX}_typing_states", "Users typing on a post now",
                                           labels=p),
        "broker_connected": GaugeMetricFamily(f"{PREFIX}_broker_connected",
                                              "1 while events published now reach every process", labels=p),
        "uptime_seconds": GaugeMetricFamily(f"{PREFIX}_uptime_seconds", "Seconds since the process started",
                                            labels=p),
        "processes_reporting": GaugeMetricFamily(f"{PREFIX}_processes_reporting",
                                                 "Processes whose statistics are in this scrape"),
        "disconnects": CounterMetricFamily(f"{PREFIX}_disconnects",
                                           "Closed streams, by reason and close code",
                                           labels=[*p, "reason", "code"]),
    }
    for _key, name, help_text, label in _COUNTERS:
        families[name] = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=[*p, label])
    for _key, name, help_text in _TOTALS:
        families[name] = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=p)
    return families


def render(state: Any, accept: str | None) -> tuple[bytes, str]:
    """The exposition (Prometheus text, or OpenMetrics if ``accept`` asks for it) and its type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RealtimeCollector(state))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
