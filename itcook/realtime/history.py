"""The durable event log: replay for resumes, bounds, retention (``outbox.py`` writes it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from itcook.realtime.events import Event


# The plugin's tables live in the app's metadata (one migration history), declared without
# the ORM so the plugin needs nothing of the app but its engine.
def define_tables(metadata: MetaData) -> Table:
    """Declare ``realtime_events`` in ``metadata`` (idempotent)."""
    if "realtime_events" in metadata.tables:
        return metadata.tables["realtime_events"]
    return Table(
        "realtime_events", metadata,
        # AUTOINCREMENT on SQLite: ids are never reused, even after pruning the newest rows.
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
               autoincrement=True),
        Column("type", String(40), nullable=False),
        Column("channel", String(80), nullable=False),
        Column("data", JSON, nullable=False),
        Column("ts", String(32), nullable=False),
        Column("created_at", DateTime, nullable=False, index=True),
        # Replay reads "channel IN (...) AND id > ?" in id order: this index serves it.
        Index("ix_realtime_events_channel_id", "channel", "id"),
        sqlite_autoincrement=True,
    )


#: Most values in one ``IN (...)`` of a purge (SQLite binds at most 32766 parameters).
PURGE_CHUNK = 500


def purge(executor: Session | Connection, table: Table, channels: Collection[str],
          community_posts: Collection[int] = (), author: int | None = None,
          about: tuple[str, str, Collection[int]] | None = None) -> int:
    """Delete the logged events of ``channels``, the ``community`` events of ``community_posts``,
    what ``author`` wrote on ``post:`` and ``group:`` channels (comments, group posts), and
    (``about``: type, data field, ids) the events of that type naming those ids, on any channel.

    Runs on the caller's session or connection, so in the transaction that deletes what the
    events were about: once it commits, nothing of it can be replayed. Returns rows removed.
    """
    def mention(field: str, ids: list[int]) -> ColumnElement[bool]:
        # Compared as text, SQLite's json_extract numbers included: on PostgreSQL a cast of
        # another event's non-numeric value to an integer would abort the caller's transaction.
        return cast(table.c.data[field].as_string(), String).in_([str(i) for i in ids])

    removed = 0
    names, posts = list(channels), list(community_posts)
    for i in range(0, len(names), PURGE_CHUNK):
        removed += executor.execute(
            delete(table).where(table.c.channel.in_(names[i:i + PURGE_CHUNK]))).rowcount
    for i in range(0, len(posts), PURGE_CHUNK):
        removed += executor.execute(delete(table).where(
            table.c.channel == "community",
            mention("post_id", posts[i:i + PURGE_CHUNK]))).rowcount
    if author is not None:
        removed += executor.execute(delete(table).where(
            or_(table.c.channel.startswith("post:"), table.c.channel.startswith("group:")),
            mention("author_id", [author]))).rowcount
    if about is not None:
        event_type, field, ids = about[0], about[1], list(about[2])
        for i in range(0, len(ids), PURGE_CHUNK):
            removed += executor.execute(delete(table).where(
                table.c.type == event_type, mention(field, ids[i:i + PURGE_CHUNK]))).rowcount
    return removed


def _naive_utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class History:
    """Replay, bound and prune the event log through its own connections (not the request's).

    Events are written by the outbox (``outbox.py``), in the transaction of their change.
    """

    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine = engine
        self.table = table

    def replay(self, channels: Iterable[str], after_id: int, limit: int,
               upto: int | None = None) -> list[Event]:
        """Up to ``limit`` events on ``channels`` with ``after_id < id <= upto``, in id order."""
        table = self.table
        where = [table.c.channel.in_(list(channels)), table.c.id > after_id]
        if upto is not None:
            where.append(table.c.id <= upto)
        return self._read(where, limit)

    def between(self, first: int, last: int, limit: int) -> list[Event]:
        """Up to ``limit`` events of every channel with ``first <= id <= last``, in id order."""
        ids = self.table.c.id
        return self._read([ids >= first, ids <= last], limit)

    def _read(self, where: list[Any], limit: int) -> list[Event]:
        table = self.table
        stmt = (select(table.c.id, table.c.type, table.c.channel, table.c.data, table.c.ts)
                .where(*where).order_by(table.c.id).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [Event(type=r.type, channel=r.channel, data=r.data, id=int(r.id), ts=r.ts)
                for r in rows]

    def newest(self) -> int:
        """The log's newest id; 0 when empty."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(self.table.c.id))).scalar() or 0)

    def bounds(self) -> tuple[int, int]:
        """(oldest id kept, newest id) of the log; (0, 0) when empty."""
        ids = self.table.c.id
        # Two scalar subqueries: each is one index probe, where min() and max() in one SELECT
        # make SQLite scan the whole log (73 ms at a million rows, twice per resume).
        stmt = select(select(func.min(ids)).scalar_subquery(), select(func.max(ids)).scalar_subquery())
        with self.engine.connect() as conn:
            low, high = conn.execute(stmt).one()
        return int(low or 0), int(high or 0)

    def prune(self, max_age_seconds: float, max_count: int) -> int:
        """Delete events older than the age limit or beyond the newest ``max_count``; return count."""
        table = self.table
        removed = 0
        with self.engine.begin() as conn:
            if max_age_seconds > 0:
                cutoff = _naive_utc_now() - dt.timedelta(seconds=max_age_seconds)
                removed += conn.execute(delete(table).where(table.c.created_at < cutoff)).rowcount
            if max_count > 0:
                high = conn.execute(select(func.max(table.c.id))).scalar()
                if high is not None:
                    removed += conn.execute(
                        delete(table).where(table.c.id <= int(high) - max_count)).rowcount
        return removed
