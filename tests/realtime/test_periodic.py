"""The plugin's own job runner (hosts without one): the cluster lock, failures, a prompt stop."""

from __future__ import annotations

import gevent
from flask import Flask
from gevent.event import Event

from itcook.realtime.periodic import Periodic


def test_a_round_runs_only_where_the_cluster_lock_was_taken() -> None:
    asked: list[tuple[str, float]] = []
    twice = Event()

    def lock(name: str, ttl: float) -> bool:
        asked.append((name, ttl))
        if len(asked) == 2:
            twice.set()
        return False  # another process holds it: this one skips the round

    runs: list[int] = []
    jobs = Periodic(Flask(__name__), lock)
    jobs.add("relay", 0.05, lambda: runs.append(1))
    jobs.start()
    assert twice.wait(5)
    jobs.stop()
    assert runs == [] and [name for name, _ in asked[:2]] == ["relay", "relay"]
    assert all(abs(ttl - 0.045) < 1e-9 for _, ttl in asked)  # (almost) one interval


def test_a_failing_round_does_not_end_the_job_and_runs_in_an_app_context() -> None:
    app = Flask(__name__)
    seen: list[object] = []
    again = Event()

    def job() -> None:
        from flask import current_app

        seen.append(current_app._get_current_object())
        if len(seen) == 1:
            raise RuntimeError("the database is down")
        again.set()

    jobs = Periodic(app, lambda name, ttl: True)
    jobs.add("prune", 0.01, job)
    jobs.start()
    assert again.wait(5)
    jobs.stop()
    assert seen[:2] == [app, app]


def test_stop_wakes_a_job_waiting_for_its_next_round() -> None:
    ran = Event()
    jobs = Periodic(Flask(__name__), lambda name, ttl: True)
    jobs.add("prune", 3600.0, ran.set)
    jobs.add("off", 0.0, lambda: None)  # an interval of 0 is off
    assert list(jobs.jobs) == ["prune"]
    jobs.start()
    assert ran.wait(5)
    with gevent.Timeout(2):  # not an hour
        jobs.stop()
