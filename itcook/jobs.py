"""A small periodic-job runner on gevent greenlets, one greenlet per job.

Generic on purpose: it knows no domain. A domain registers ``fn`` under a name with
:func:`register` (usually in its ``init_app``); the server entry point calls :func:`start`
once, and :func:`stop` ends every loop at once (the wait is on a gevent Event, not a sleep).
Nothing starts in ``create_app``, so tests, the CLI and migrations never run background work
unless they ask for it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
from flask import Flask
from gevent.event import Event
from gevent.greenlet import Greenlet

from itcook.models import utcnow

log = logging.getLogger(__name__)

EXTENSION_KEY = "itcook.jobs"


@dataclass
class Job:
    """One periodic job and what it has done so far."""

    name: str
    interval: float
    fn: Callable[[], Any]
    runs: int = 0
    failures: int = 0
    last_run_at: dt.datetime | None = None


@dataclass
class JobRegistry:
    """The jobs of one app and, while started, their greenlets."""

    jobs: dict[str, Job] = field(default_factory=dict)
    greenlets: dict[str, Greenlet] = field(default_factory=dict)
    # (name, ttl) -> whether this process may run the job now: one run per cluster per interval.
    lock: Callable[[str, float], bool] | None = None
    stopping: Event = field(default_factory=Event)
    started: bool = False


def registry(app: Flask) -> JobRegistry:
    """Return the app's job registry, creating it on first use."""
    found = app.extensions.get(EXTENSION_KEY)
    if found is None:
        found = app.extensions[EXTENSION_KEY] = JobRegistry()
    return found


def register(app: Flask, name: str, interval_seconds: float, fn: Callable[[], Any]) -> bool:
    """Register ``fn`` to run every ``interval_seconds``; ``<= 0`` means off.

    Returns whether the job is registered. Registering a name again replaces the job;
    if the runner is already started, the new job starts at once.
    """
    reg = registry(app)
    old = reg.greenlets.pop(name, None)
    if old is not None:
        old.kill(block=True, timeout=5)
    reg.jobs.pop(name, None)
    if interval_seconds <= 0:
        log.info("job %s is off (interval %s)", name, interval_seconds)
        return False
    job = reg.jobs[name] = Job(name, float(interval_seconds), fn)
    if reg.started:
        reg.greenlets[name] = _spawn(app, job, reg.stopping)
    return True


def start(app: Flask) -> None:
    """Spawn one greenlet per registered job; a second call while running does nothing."""
    reg = registry(app)
    if reg.started:
        return
    reg.stopping = Event()
    reg.started = True
    for job in reg.jobs.values():
        reg.greenlets[job.name] = _spawn(app, job, reg.stopping)


def stop(app: Flask, timeout: float = 5.0) -> None:
    """End every job loop: wake their waits, join them, kill what is still running."""
    reg = registry(app)
    if not reg.started:
        return
    reg.stopping.set()
    greenlets = list(reg.greenlets.values())
    gevent.joinall(greenlets, timeout=timeout)
    # A job stuck inside fn() past the timeout is killed rather than left behind.
    gevent.killall([g for g in greenlets if not g.dead], block=True, timeout=timeout)
    reg.greenlets.clear()
    reg.started = False


def set_lock(app: Flask, lock: Callable[[str, float], bool]) -> None:
    """Make every job take ``lock(name, ttl)`` before a run, so it runs once per cluster."""
    registry(app).lock = lock


def run_now(app: Flask, name: str) -> Any:
    """Run one registered job synchronously and return its result; exceptions propagate."""
    job = registry(app).jobs.get(name)
    if job is None:
        raise KeyError(f"no job named {name!r}")
    with app.app_context():
        return job.fn()


def _spawn(app: Flask, job: Job, stopping: Event) -> Greenlet:
    greenlet = gevent.spawn(_loop, app, job, stopping, registry(app))
    greenlet.name = f"job:{job.name}"
    return greenlet


def _loop(app: Flask, job: Job, stopping: Event, reg: JobRegistry) -> None:
    while not stopping.is_set():
        # Every worker wakes up; the one that takes the lock for (almost) an interval runs.
        if reg.lock is None or reg.lock(job.name, job.interval * 0.9):
            _run_once(app, job)
        # Event.wait returns True as soon as stop() sets it: no sleeping through a shutdown.
        if stopping.wait(job.interval):
            break


def _run_once(app: Flask, job: Job) -> None:
    job.last_run_at = utcnow()
    try:
        with app.app_context():
            job.fn()
    except Exception:
        # The loop must survive a bad run (a database hiccup); the next run may succeed.
        job.failures += 1
        log.exception("job %s failed", job.name)
    finally:
        job.runs += 1
