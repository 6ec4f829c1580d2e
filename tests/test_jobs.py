"""The periodic-job runner: repeats, survives failures, stops at once, starts only once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, current_app
from gevent.event import Event

from itcook import jobs

WAIT = 5  # seconds: an upper bound on every wait, never a synchronization sleep


@pytest.fixture
def bare_app() -> Iterator[Flask]:
    """A plain Flask app: the runner knows no domain and needs no database."""
    app = Flask("jobs-test")
    yield app
    jobs.stop(app)


class Counter:
    """Counts calls and sets ``reached`` once ``target`` calls have happened."""

    def __init__(self, target: int, fail_on: set[int] | None = None) -> None:
        self.calls = 0
        self.target = target
        self.fail_on = fail_on or set()
        self.reached = Event()
        self.apps: list[str] = []

    def __call__(self) -> int:
        self.calls += 1
        self.apps.append(current_app.name)  # proves fn runs inside the app context
        if self.calls >= self.target:
            self.reached.set()
        if self.calls in self.fail_on:
            raise RuntimeError(f"boom {self.calls}")
        return self.calls


def test_job_runs_repeatedly_in_app_context(bare_app: Flask) -> None:
    counter = Counter(target=3)
    assert jobs.register(bare_app, "tick", 0.01, counter) is True
    jobs.start(bare_app)
    assert counter.reached.wait(WAIT), "the job did not run three times"
    assert set(counter.apps) == {"jobs-test"}
    job = jobs.registry(bare_app).jobs["tick"]
    assert job.runs >= 3 and job.failures == 0 and job.last_run_at is not None


def test_job_survives_an_exception(bare_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    counter = Counter(target=3, fail_on={1, 2})
    jobs.register(bare_app, "flaky", 0.01, counter)
    jobs.start(bare_app)
    assert counter.reached.wait(WAIT), "the loop died after a failing run"
    job = jobs.registry(bare_app).jobs["flaky"]
    assert job.failures >= 2
    assert "job flaky failed" in caplog.text and "boom 1" in caplog.text


def test_stop_wakes_the_wait_and_ends_the_loop(bare_app: Flask) -> None:
    counter = Counter(target=1)
    # An hour-long interval: only stop() setting the Event can end the wait.
    jobs.register(bare_app, "slow", 3600, counter)
    jobs.start(bare_app)
    assert counter.reached.wait(WAIT)
    greenlet = jobs.registry(bare_app).greenlets["slow"]
    jobs.stop(bare_app, timeout=WAIT)
    assert greenlet.dead
    # Ended by its own loop (value None), not killed (a kill leaves a GreenletExit as value).
    assert greenlet.successful() and greenlet.value is None
    assert jobs.registry(bare_app).greenlets == {} and not jobs.registry(bare_app).started
    assert counter.calls == 1


def test_stop_kills_a_job_stuck_in_fn(bare_app: Flask) -> None:
    entered, never = Event(), Event()

    def stuck() -> None:
        entered.set()
        never.wait()

    jobs.register(bare_app, "stuck", 1, stuck)
    jobs.start(bare_app)
    assert entered.wait(WAIT)
    greenlet = jobs.registry(bare_app).greenlets["stuck"]
    jobs.stop(bare_app, timeout=0.05)
    assert greenlet.dead


def test_start_is_idempotent_and_restartable(bare_app: Flask) -> None:
    counter = Counter(target=1)
    jobs.register(bare_app, "once", 3600, counter)
    jobs.start(bare_app)
    first = jobs.registry(bare_app).greenlets["once"]
    jobs.start(bare_app)
    assert jobs.registry(bare_app).greenlets["once"] is first
    assert counter.reached.wait(WAIT)
    jobs.stop(bare_app)
    jobs.stop(bare_app)  # a second stop is harmless
    counter.reached.clear()
    counter.target = 2
    jobs.start(bare_app)
    assert counter.reached.wait(WAIT), "a stopped runner did not start again"


def test_register_while_started_starts_the_job(bare_app: Flask) -> None:
    jobs.start(bare_app)
    counter = Counter(target=2)
    jobs.register(bare_app, "late", 0.01, counter)
    assert counter.reached.wait(WAIT)


def test_reregister_replaces_the_job(bare_app: Flask) -> None:
    old, new = Counter(target=1), Counter(target=2)
    jobs.register(bare_app, "job", 3600, old)
    jobs.start(bare_app)
    assert old.reached.wait(WAIT)
    jobs.register(bare_app, "job", 0.01, new)
    assert new.reached.wait(WAIT)
    assert old.calls == 1 and jobs.registry(bare_app).jobs["job"].fn is new


@pytest.mark.parametrize("interval", [0, 0.0, -1])
def test_non_positive_interval_means_off(bare_app: Flask, interval: float) -> None:
    counter = Counter(target=1)
    jobs.register(bare_app, "job", 60, counter)
    assert jobs.register(bare_app, "job", interval, counter) is False
    assert "job" not in jobs.registry(bare_app).jobs
    jobs.start(bare_app)
    assert jobs.registry(bare_app).greenlets == {}


def test_stop_without_start_is_a_no_op(bare_app: Flask) -> None:
    jobs.stop(bare_app)
    assert not jobs.registry(bare_app).started


def test_run_now_runs_synchronously_and_propagates(bare_app: Flask) -> None:
    counter = Counter(target=1, fail_on={2})
    jobs.register(bare_app, "job", 3600, counter)
    assert jobs.run_now(bare_app, "job") == 1
    assert counter.apps == ["jobs-test"]
    with pytest.raises(RuntimeError, match="boom 2"):
        jobs.run_now(bare_app, "job")
    with pytest.raises(KeyError):
        jobs.run_now(bare_app, "missing")


def test_registry_is_per_app() -> None:
    first, second = Flask("a"), Flask("b")
    jobs.register(first, "job", 60, lambda: None)
    assert "job" in jobs.registry(first).jobs and jobs.registry(second).jobs == {}
    assert first.extensions["itcook.jobs"] is jobs.registry(first)
