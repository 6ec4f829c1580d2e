"""Counts of past events, read from the durable log so that every process, restarted or not,
reports the same numbers: events today, events per 5 s over the last 10 minutes, events per type
per day.

Today and the last minutes are counted from ``realtime_events`` (its ``created_at`` index) on
read, cached for a few seconds. A finished day is rolled up once into ``realtime_event_days``
(day, type, count): the prune job does it before it deletes anything, so the per-day table
outlives the log's retention. Nothing is counted when an event is written: the publish path
(and, with an outbox, the domain transaction) pays nothing and no row is a hot spot.
Only durable events are logged, so only they are counted here.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    MetaData,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from itcook.realtime import timeline

#: Days the per-day table shows (today included) and days rolled up at most.
DAYS_SHOWN = 7
DAYS_ROLLED = 31
#: Seconds a read is reused; after this process publishes, at least ``DIRTY_TTL``.
TTL, DIRTY_TTL = 5.0, 0.5
#: A day is rolled up this long after it ends (an insert in flight at midnight is committed).
SETTLE = dt.timedelta(minutes=1)

# Events per bucket of ``timeline.STEP`` seconds, as epoch seconds of the bucket's start.
_BUCKET_SQL = {
    "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM created_at)) AS BIGINT) / {step} * {step}",
    "sqlite": "CAST(strftime('%s', created_at) AS INTEGER) / {step} * {step}",
}


def define_day_table(metadata: MetaData) -> Table:
    """Declare ``realtime_event_days``: events per type per finished UTC day (idempotent)."""
    if "realtime_event_days" in metadata.tables:
        return metadata.tables["realtime_event_days"]
    return Table(
        "realtime_event_days", metadata,
        Column("day", Date, primary_key=True),
        Column("type", String(40), primary_key=True),
        Column("count", BigInteger, nullable=False),
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


class EventCounts:
    """Reads (and rolls up) the counts of logged events; one per process, shared by requests."""

    def __init__(self, engine: Engine, events: Table, days: Table) -> None:
        self.engine, self.events, self.days = engine, events, days
        self._cached: dict[str, Any] | None = None
        self._cached_at = 0.0
        self.dirty = False  # this process published since the cached read

    def snapshot(self) -> dict[str, Any]:
        """``events_published_today``, ``events_by_day`` (flat ``"day/Type"``, the last
        ``DAYS_SHOWN`` days) and ``events_per_interval`` (``{"<bucket start>": count}``)."""
        age = time.monotonic() - self._cached_at
        if self._cached is None or age >= (DIRTY_TTL if self.dirty else TTL):
            self.dirty = False
            self._cached = self._read()
            self._cached_at = time.monotonic()
        return self._cached

    def _read(self) -> dict[str, Any]:
        now = _utcnow()
        today = now.date()
        table = self.events
        since = now - dt.timedelta(seconds=timeline.STEP * timeline.BUCKETS)
        bucket = (_BUCKET_SQL.get(self.engine.dialect.name, _BUCKET_SQL["sqlite"])
                  .format(step=int(timeline.STEP)))
        name = self.engine.dialect.identifier_preparer.format_table(table)
        with self.engine.connect() as conn:
            first = today - dt.timedelta(days=DAYS_SHOWN - 1)
            self._roll_up(conn, first, today)
            by_day = {f"{r.day.isoformat()}/{r.type}": int(r.count) for r in conn.execute(
                select(self.days).where(self.days.c.day >= first))}
            todays = dict(conn.execute(
                select(table.c.type, func.count()).where(table.c.created_at >= _midnight(today))
                .group_by(table.c.type)).all())
            per_bucket = conn.execute(
                text(f"SELECT {bucket} AS bucket, count(*) FROM {name} "
                     "WHERE created_at >= :since GROUP BY bucket"), {"since": since}).all()
            conn.commit()
        by_day.update({f"{today.isoformat()}/{t}": int(n) for t, n in todays.items()})
        return {"events_published_today": sum(todays.values()), "events_by_day": by_day,
                "events_per_interval": {str(int(b)): int(n) for b, n in per_bucket}}

    def roll_up(self) -> int:
        """Roll every finished day of the last ``DAYS_ROLLED`` up; return the days added."""
        today = _utcnow().date()
        with self.engine.connect() as conn:
            added = self._roll_up(conn, today - dt.timedelta(days=DAYS_ROLLED), today)
            conn.commit()
        return added

    def _roll_up(self, conn: Connection, first: dt.date, today: dt.date) -> int:
        """Add the days in ``[first, today)`` that have ended, have events and no rows yet."""
        done = set(conn.execute(select(self.days.c.day).distinct().where(self.days.c.day >= first))
                   .scalars())
        added = 0
        day = first
        while day < today:
            if day not in done and _utcnow() >= _midnight(day) + dt.timedelta(days=1) + SETTLE:
                added += self._roll_up_day(conn, day)
            day += dt.timedelta(days=1)
        return added

    def _roll_up_day(self, conn: Connection, day: dt.date) -> int:
        table = self.events
        start = _midnight(day)
        rows = conn.execute(
            select(table.c.type, func.count()).where(table.c.created_at >= start,
                                                     table.c.created_at < start + dt.timedelta(days=1))
            .group_by(table.c.type)).all()
        if not rows:
            return 0
        values = [{"day": day, "type": t, "count": int(n)} for t, n in rows]
        # Two processes may roll the same day up at once: the first one's rows stand.
        make = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        conn.execute(make(self.days).values(values).on_conflict_do_nothing())
        return 1
