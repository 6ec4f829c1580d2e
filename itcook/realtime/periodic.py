"""The plugin's periodic jobs (log prune, outbox relay) when the host does not schedule them.

One greenlet per job. Each round takes the broker's lock for (almost) an interval first, so
with several processes a job runs once per interval across the cluster, not once per process.
A host with a job runner of its own passes ``schedule=`` to ``init_app`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent
from flask import Flask
from gevent.event import Event

log = logging.getLogger(__name__)

class Periodic:
    """The jobs of one app, run by ``start`` and ended by ``stop``."""

    def __init__(self, app: Flask, lock: Callable[[str, float], bool]) -> None:
        self.app, self.lock = app, lock
        self.jobs: dict[str, tuple[float, Callable[[], Any]]] = {}
        self._greenlets: list[gevent.Greenlet] = []
        self._stopping = Event()

    def add(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` every ``interval`` seconds once started; ``<= 0`` means never."""
        if interval > 0:
            self.jobs[name] = (float(interval), fn)

    def start(self) -> None:
        """Spawn one greenlet per job (a second call while running does nothing)."""
        if self._greenlets:
            return
        self._stopping = Event()
        self._greenlets = [gevent.spawn(self._loop, name, interval, fn)
                           for name, (interval, fn) in self.jobs.items()]

    def stop(self, timeout: float = 5.0) -> None:
        """Wake every loop and wait for it; a job stuck past ``timeout`` is killed."""
        self._stopping.set()
        gevent.joinall(self._greenlets, timeout=timeout)
        gevent.killall([g for g in self._greenlets if not g.dead], block=True, timeout=timeout)
        self._greenlets = []

    def _loop(self, name: str, interval: float, fn: Callable[[], Any]) -> None:
        while not self._stopping.is_set():
            try:
                if self.lock(name, interval * 0.9):
                    with self.app.app_context():
                        fn()
            except Exception:  # a bad round (the database is down) must not end the job
                log.exception("realtime job %s failed", name)
            if self._stopping.wait(interval):
                break
