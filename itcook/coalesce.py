"""Coalescing: at most one send per interval per key, and the last change always sent.

A change offered after its commit is sent at once if its key sent nothing for ``interval``
seconds (leading edge), else once the interval is over (trailing edge); changes offered
meanwhile join that one send. The send reads the current state when it runs, so it carries
every change committed before it, in this process or any other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from cachetools import TTLCache
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_STAGED = "itcook.coalesce"

#: The most keys remembered at once; a key forgotten early is only sent sooner.
MAX_KEYS = 100_000


class Coalescer:
    """Per key, at most one ``send`` per ``interval`` seconds; none is lost (trailing edge)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: TTLCache[str, float] = TTLCache(MAX_KEYS, ttl=interval, timer=time.monotonic)
        self._pending: dict[str, gevent.Greenlet] = {}

    def offer(self, key: str, send: Callable[[], None]) -> None:
        """Have ``send`` run for ``key`` as soon as the interval allows (after the commit)."""
        if key in self._pending:
            return  # a send is due: it will read this change too
        last = self._last.get(key)
        delay = 0.0 if last is None else max(0.0, last + self.interval - time.monotonic())
        self._pending[key] = gevent.spawn_later(delay, self._fire, key, send)

    def _fire(self, key: str, send: Callable[[], None]) -> None:
        # Marked sent before it reads: a change committed while it runs gets a send of its own.
        self._pending.pop(key, None)
        self._last[key] = time.monotonic()
        try:
            send()
        except Exception:  # best effort: the state is in the database, the next change sends it
            log.exception("coalesced send of %s failed", key)

    def idle(self) -> bool:
        """Whether no send is due."""
        return not self._pending

    def stop(self) -> None:
        """Drop every send still due (the app stops)."""
        gevent.killall(list(self._pending.values()), block=False)
        self._pending.clear()


def after_commit(session: Session, coalescer: Coalescer, key: str, send: Callable[[], None]) -> None:
    """Offer ``key`` to ``coalescer`` once ``session``'s transaction commits (dropped on rollback)."""
    session.info.setdefault(_STAGED, []).append((coalescer, key, send))


def _committed(session: Session) -> None:
    for coalescer, key, send in session.info.pop(_STAGED, ()):
        coalescer.offer(key, send)


def _ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost one rolled back: nothing changed
        session.info.pop(_STAGED, None)


def install(sessions: Any) -> None:
    """Listen to the commits of ``sessions`` (the app's ``db.session``); idempotent."""
    if not event.contains(sessions, "after_commit", _committed):
        event.listen(sessions, "after_commit", _committed)
        event.listen(sessions, "after_transaction_end", _ended)
