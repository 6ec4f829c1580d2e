"""Backends carry events between processes and hold what they share; the URL scheme picks one."""

from __future__ import annotations

from itcook.realtime.brokers.base import ClusterStore, Transport
from itcook.realtime.brokers.memory import MemoryStore, MemoryTransport


def open_backend(url: str, prefix: str = "itcook") -> tuple[Transport, ClusterStore]:
    """The transport and cluster store for ``url``: ``memory://`` (one process) or ``redis://...``."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryTransport(), MemoryStore()
    if scheme in ("redis", "rediss", "unix"):
        from itcook.realtime.brokers.redis import RedisStore, RedisTransport

        transport = RedisTransport(url, prefix)
        return transport, RedisStore(url, prefix, link_up=lambda: transport.connected)
    raise ValueError(f"ITCOOK_BROKER_URL: unsupported broker URL scheme {scheme!r} "
                     "(use memory:// or redis://host:port/db)")


__all__ = ["ClusterStore", "MemoryStore", "MemoryTransport", "Transport", "open_backend"]
