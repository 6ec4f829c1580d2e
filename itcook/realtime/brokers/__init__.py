"""Brokers carry events between processes; the URL scheme picks the backend."""

from __future__ import annotations

from itcook.realtime.brokers.base import Broker
from itcook.realtime.brokers.memory import MemoryBroker


def make_broker(url: str, prefix: str = "itcook") -> Broker:
    """Return the broker for ``url``: ``memory://`` (in-process) or ``redis://...``."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryBroker()
    if scheme in ("redis", "rediss", "unix"):
        from itcook.realtime.brokers.redis import RedisBroker

        return RedisBroker(url, prefix)
    raise ValueError(f"ITCOOK_BROKER_URL: unsupported broker URL scheme {scheme!r} "
                     "(use memory:// or redis://host:port/db)")


__all__ = ["Broker", "MemoryBroker", "make_broker"]
