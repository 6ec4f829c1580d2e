"""The URL scheme picks the backend: a transport and a cluster store, each with a clear error."""

from __future__ import annotations

import sys

import pytest

from itcook.realtime.brokers import MemoryStore, MemoryTransport, open_backend
from itcook.realtime.events import Event


def test_memory_url_gives_the_in_process_pair() -> None:
    transport, store = open_backend("memory://")
    assert isinstance(transport, MemoryTransport) and isinstance(store, MemoryStore)
    assert store.shared is False and store.try_lock("scan", 5.0) is True


def test_memory_transport_delivers_to_its_handler_until_stopped() -> None:
    transport, _ = open_backend("memory://")
    heard: list[Event] = []
    transport.start(heard.append, lambda: None)
    event = Event(type="Ping", channel="system", data={})
    assert transport.publish(event) is True and heard == [event]
    transport.stop()
    assert transport.publish(event) is True and heard == [event]


def test_unknown_scheme_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unsupported broker URL scheme 'amqp'"):
        open_backend("amqp://127.0.0.1/")


def test_a_missing_redis_driver_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what ``import redis`` sees when not installed
    with pytest.raises(RuntimeError, match="'redis' package is not installed"):
        open_backend("redis://127.0.0.1:6379/0")
