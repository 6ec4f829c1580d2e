"""The plugin's settings: every ``REALTIME_*`` key with its default, type and meaning.

A host sets them in its Flask config (``REALTIME_HEARTBEAT_INTERVAL = 10``) or passes them to
``Realtime(...)`` / ``init_app(...)`` in lower case (``heartbeat_interval=10``); what neither
names keeps the default below. ``read`` merges the three for one app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One setting: its name after ``REALTIME_``, its type, default and meaning."""

    key: str
    type: type
    default: Any
    help: str

    @property
    def name(self) -> str:
        """The option's keyword name (``heartbeat_interval``)."""
        return self.key.lower()


OPTIONS: tuple[Option, ...] = (
    Option("BROKER_URL", str, "memory://", "`memory://` (one process) or `redis://host:6379/0` "
           "(events cross processes and hosts; needs PostgreSQL as the database)"),
    Option("BROKER_PREFIX", str, "realtime", "prefix of every Redis key and channel (several "
           "deployments may share one Redis)"),
    Option("URL_PREFIX", str, "/api/v1/realtime", "where the plugin's routes are mounted"),
    Option("ROOT_METRICS", bool, False, "also serve `/metrics` at the application root "
           "(Prometheus' default path); off so that it never shadows the host's own"),
    Option("STATS_INTERVAL", float, 3.0, "seconds between a process's reports of its "
           "statistics to the cluster (it drops out of /stats after 3 missed reports)"),
    Option("ALLOWED_ORIGINS", list, [], "comma-separated browser origins allowed "
           "besides the server's own (`*` = any)"),
    Option("HEARTBEAT_INTERVAL", float, 25.0, "seconds between server Heartbeat frames"),
    Option("IDLE_TIMEOUT", float, 60.0, "a connection silent this long is closed (4001)"),
    Option("PRINCIPAL_RECHECK_INTERVAL", float, 30.0, "seconds between a process's "
           "checks that its connected users are still active (a disabled or deleted one is "
           "closed with 4003 even if the broker lost the message; also after every broker "
           "outage); 0 = only after outages"),
    Option("TICKET_TTL", float, 30.0, "seconds a `/ticket` stays valid (single use)"),
    Option("MAX_TICKETS_PER_USER", int, 20, "unused tickets one user may hold at once "
           "(429 `too_many_tickets` past it)"),
    Option("MAX_MESSAGE_BYTES", int, 4096, "largest client frame (Error + close 1009 past it), "
           "except of a type the host registered with a larger `max_bytes`"),
    Option("RATE", float, 20.0, "client frames per second allowed (token bucket refill)"),
    Option("BURST", int, 40, "token bucket size"),
    Option("MAX_VIOLATIONS", int, 10, "rate-limit or invalid-frame errors before a "
           "policy close (1008)"),
    Option("MAX_SUBSCRIPTIONS", int, 50, "channels one connection may hold"),
    Option("MAX_CONNECTIONS_PER_USER", int, 10, "live connections one user may hold"),
    Option("SEND_BUFFER_BYTES", int, 1_048_576, "unsent bytes a connection may queue "
           "before it is closed as a slow consumer (4002)"),
    Option("SEND_BUFFER_FRAMES", int, 2000, "unsent frames a connection may queue"),
    Option("RETENTION_SECONDS", float, 259200.0, "events older than this leave the log "
           "(a resume from before them is reported incomplete)"),
    Option("RETENTION_COUNT", int, 1_000_000, "the log keeps at most this many newest events"),
    Option("PRUNE_INTERVAL", float, 300.0, "seconds between log prunes; 0 = never prune"),
    Option("OUTBOX_INTERVAL", float, 2.0, "seconds between runs of the outbox relay, "
           "which publishes events logged by a process that died before publishing them; 0 = off"),
    Option("OUTBOX_GRACE", float, 5.0, "the relay publishes a logged event only once it "
           "is this old (younger ones are on their way from the process that logged them)"),
    Option("OUTBOX_FLUSH_DELAY", float, 0.05, "seconds a process gathers published ids "
           "before taking them out of the outbox in one statement"),
    Option("REPLAY_BATCH", int, 500, "events read and sent per batch while resuming"),
    Option("REPLAY_CACHE", int, 10_000, "newest events each process keeps encoded in "
           "memory, so that a resume within them skips the log; 0 = always read the log"),
    Option("GAP_WAIT", float, 1.5, "seconds a process waits for a missing event id "
           "(read from the log meanwhile) before skipping it as rolled back; also how often it "
           "checks the log for events whose broker message was lost"),
    Option("DISPATCH_BATCH", int, 64, "most queued events written to a socket in one "
           "write (a burst: one system call per socket instead of one per event); 1 = one by one"),
    Option("REPLAY_BUFFER", int, 10_000, "live events held for a connection while it "
           "replays; past it the connection is closed as a slow consumer"),
    Option("SSE_KEEPALIVE_INTERVAL", float, 15.0, "seconds between SSE keep-alive comments"),
    Option("SSE_RETRY_MS", int, 3000, "reconnect delay the SSE `retry:` field suggests"),
    Option("TYPING_THROTTLE", float, 1.0, "seconds between UserTyping starts of one "
           "user on one post"),
    Option("TYPING_TIMEOUT", float, 5.0, "a typing state not stopped ends by itself"),
    Option("METRICS_TOKEN", str, "", "bearer token Prometheus must send to `/metrics`; "
           "empty = the endpoint is open (restrict it at the proxy)"),
)

DEFAULTS: dict[str, Any] = {option.name: option.default for option in OPTIONS}


def read(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of one app: defaults, then its ``REALTIME_*`` config, then ``overrides``.

    An unknown override is a mistake in the host's code (a typo would silently keep a
    default), so it raises ``TypeError``.
    """
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown realtime option(s): {', '.join(unknown)}")
    settings = dict(DEFAULTS)
    for key, value in config.items():
        if key.startswith("REALTIME_") and key[9:].lower() in DEFAULTS:
            settings[key[9:].lower()] = value
    settings.update(overrides)
    return settings
