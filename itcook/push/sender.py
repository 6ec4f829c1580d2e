"""Sending Web Push messages off the request path: a bounded queue, a fixed set of worker
greenlets (the concurrency), retries with exponential backoff, expired subscriptions removed.

A personal event becomes one job; a worker checks, when it takes the job, that the user has
no live connection on any process and wants this type pushed, then encrypts (RFC 8291,
aes128gcm) and sends one request per subscription with a VAPID token (RFC 8292) through
``pywebpush``. 404/410 mean the subscription is gone: it is deleted. 429, 5xx, timeouts and
connection errors are retried after 1, 2, 4… × ``PUSH_RETRY_DELAY`` (or the service's
``Retry-After``, at most 60 s), up to ``PUSH_MAX_ATTEMPTS`` tries; other answers are final,
redirects included (never followed). An endpoint that is, or now resolves to, a non-public
address is not contacted (``egress.py``) and not retried. At most ``PUSH_BUDGET_PER_HOUR``
notifications a clock hour are pushed to one user, counted in the database across processes;
the others are dropped (``over_budget``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import gevent
import gevent.queue
import requests
from flask import Flask
from pywebpush import WebPushException, webpush

from itcook.push import egress, services
from itcook.push.services import Target

log = logging.getLogger(__name__)

RETRY_AFTER_CAP = 60.0


@dataclass(frozen=True, slots=True)
class Job:
    """A personal event to push to a user (``target`` None), or one retry to one subscription."""

    user_id: int
    event_id: int
    event_type: str
    title: str
    body: str
    target: Target | None = None
    attempt: int = 1
    #: The page a click opens (``notifications.texts.link``).
    url: str = "/"

    def payload(self) -> str:
        """What the Service Worker receives (static/sw.js shows ``title`` and ``body``)."""
        return json.dumps({"title": self.title, "body": self.body, "type": self.event_type,
                           "id": self.event_id, "tag": f"itcook-{self.event_id}",
                           "url": self.url},
                          separators=(",", ":"), ensure_ascii=False)


class PushSender:
    """One per app: ``submit`` never blocks; ``concurrency`` workers send."""

    def __init__(self, app: Flask, vapid: Callable[[], Any]) -> None:
        cfg = app.config
        self.app = app
        self._vapid = vapid
        self.concurrency = max(1, int(cfg["PUSH_CONCURRENCY"]))
        self.max_attempts = max(1, int(cfg["PUSH_MAX_ATTEMPTS"]))
        self.retry_delay = float(cfg["PUSH_RETRY_DELAY"])
        self.timeout = float(cfg["PUSH_TIMEOUT"])
        self.ttl = int(cfg["PUSH_TTL"])
        self.budget_per_hour = int(cfg["PUSH_BUDGET_PER_HOUR"])
        self.subject = str(cfg["PUSH_VAPID_SUBJECT"])
        self.queue: gevent.queue.Queue[Job] = gevent.queue.Queue(maxsize=max(1, cfg["PUSH_QUEUE_SIZE"]))
        #: Whether a user holds a live connection on any process (set by itcook/plugins.py).
        self.is_online: Callable[[int], bool] = lambda user_id: False
        self.counters: Counter[str] = Counter()
        self._workers: list[gevent.Greenlet] = []
        self._timers: set[gevent.Greenlet] = set()
        self._busy = 0
        self.allow_private = bool(cfg["PUSH_ALLOW_PRIVATE_ADDRESSES"])
        self.http = egress.session(allow_private=self.allow_private, pool_maxsize=self.concurrency,
                                   timeout=self.timeout)

    # -- intake -----------------------------------------------------------------------------
    def submit(self, job: Job) -> bool:
        """Queue a job without waiting; False (counted as ``dropped``) if the queue is full."""
        if not self._workers:
            self._workers = [gevent.spawn(self._work) for _ in range(self.concurrency)]
        try:
            self.queue.put_nowait(job)
        except gevent.queue.Full:
            self.counters["dropped"] += 1
            log.warning("push queue full: dropped %s for user %s", job.event_type, job.user_id)
            return False
        return True

    def idle(self) -> bool:
        """Nothing queued, being sent or waiting for a retry (tests wait on it)."""
        return self.queue.empty() and not self._timers and self._busy == 0

    def stop(self) -> None:
        """Stop the workers and drop pending retries."""
        gevent.killall([*self._workers, *self._timers], block=True, timeout=5)
        self._workers, self._timers = [], set()
        self.http.close()

    # -- work -------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self.queue.get()
            self._busy += 1
            try:
                with self.app.app_context():
                    self._handle(job)
            except Exception:  # one bad job must not stop the worker
                log.exception("push of %s to user %s failed", job.event_type, job.user_id)
            finally:
                self._busy -= 1

    def _handle(self, job: Job) -> None:
        if job.target is not None:
            self._send(job)
            return
        if self.is_online(job.user_id):
            self.counters["skipped_online"] += 1
            return
        if not services.push_enabled(job.user_id, job.event_type):
            self.counters["skipped_preference"] += 1
            return
        if not services.take_budget(job.user_id, self.budget_per_hour):
            self.counters["over_budget"] += 1
            log.info("push of %s to user %s dropped: over the hourly budget", job.event_type, job.user_id)
            return
        for target in services.targets(job.user_id):
            self._send(replace(job, target=target))

    def _send(self, job: Job) -> None:
        target = job.target
        assert target is not None
        vapid = self._vapid()
        if vapid is None:
            self.counters["not_configured"] += 1
            return
        try:  # the row may predate a stricter check, or bypass the API; names are checked on connect
            egress.check(target.endpoint, services.allowed_schemes(), allow_private=self.allow_private,
                         resolve=False)
        except ValueError as exc:  # NotPublic included
            self._refuse(target, str(exc))
            return
        try:
            webpush(target.info(), data=job.payload(), vapid_private_key=vapid,
                    vapid_claims={"sub": self.subject}, ttl=self.ttl, timeout=self.timeout,
                    headers={"Urgency": "normal"}, requests_session=self.http)
            self.counters["sent"] += 1
            return
        except WebPushException as exc:
            status, retry_after = exc.status_code, exc.retry_after
        except egress.InvalidIPAddress as exc:  # resolved, at connect time, to a non-public address
            self._refuse(target, f"not a public address: {exc}")
            return
        except (requests.RequestException, OSError) as exc:
            status, retry_after = None, None
            log.info("push to subscription %s: %s", target.id, exc)
        if status in (404, 410):
            services.remove_target(target)
            self.counters["expired"] += 1
        elif status is None or status == 429 or status >= 500:
            self._retry(job, status, retry_after)
        else:
            self.counters["failed"] += 1
            log.warning("push service refused a message to subscription %s: HTTP %s", target.id, status)

    def _refuse(self, target: Target, reason: str) -> None:
        # Not retried: the address is the endpoint's owner's choice, not a passing failure.
        self.counters["endpoint_refused"] += 1
        log.warning("push to subscription %s refused: endpoint %s", target.id, reason)

    def _retry(self, job: Job, status: int | None, retry_after: str | None) -> None:
        if job.attempt >= self.max_attempts:
            self.counters["failed"] += 1
            log.warning("push to subscription %s failed after %d tries (last: %s)",
                        job.target.id if job.target else None, job.attempt, status or "no answer")
            return
        delay = self.retry_delay * 2 ** (job.attempt - 1)
        if retry_after is not None and retry_after.strip().isdigit():
            delay = max(delay, float(retry_after))
        self.counters["retried"] += 1
        timer = gevent.spawn_later(min(delay, RETRY_AFTER_CAP), self._requeue,
                                   replace(job, attempt=job.attempt + 1))
        self._timers.add(timer)

    def _requeue(self, job: Job) -> None:
        self._timers.discard(gevent.getcurrent())  # type: ignore[arg-type]
        self.submit(job)
