"""The broadcasts' once-a-second beat in each process: share and publish reactions, report
viewers. It runs while the process has something to do (watchers, reactions) and stops when
idle; a subscription to ``live:<id>`` or a reaction starts it again."""

from __future__ import annotations

import logging

import gevent
from flask import Flask

from itcook.broadcasts.reactions import Reactions
from itcook.broadcasts.viewers import Viewers
from itcook.extensions import realtime

log = logging.getLogger(__name__)

INTERVAL = 1.0
#: Idle ticks before the loop stops.
IDLE_TICKS = 3


class Pulse:
    """The loop's greenlet and the two things it beats for."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.reactions = Reactions(app)
        self.viewers = Viewers(app)
        self._greenlet: gevent.Greenlet | None = None
        self.unflushed = False

    def wake(self) -> None:
        """Make sure the loop runs."""
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._loop)

    def tick(self) -> bool:
        """One beat; True while there is something to do."""
        if self.reactions.share():
            self.unflushed = True
        if self.reactions.flush():
            self.unflushed = False
        watched = self.viewers.tick()
        # Until this process itself took the tally once after sharing, the counts it shared
        # might have nobody left to publish them.
        return self.unflushed or watched or bool(self.reactions.local)

    def _loop(self) -> None:
        idle = 0
        while idle < IDLE_TICKS and not realtime.state(self.app).closing:
            gevent.sleep(INTERVAL)
            try:
                idle = 0 if self.tick() else idle + 1
            except Exception:
                log.exception("live broadcasts: tick failed")
        self._greenlet = None
