"""Statements on a pooled DB-API connection, for the hot paths where SQLAlchemy's execution
(statement caching, compiled-statement lookup, result objects) costs more than the round trip.

Errors come out as Core execution would raise them: a ``DBAPIError`` (the API answers
``500 database_error``), and a connection the database dropped is invalidated, so it leaves
the pool and callers that retry on ``connection_invalidated`` do so.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError


class PooledStatements:
    """``with PooledStatements(engine) as db:`` then ``db.run(sql, params)`` and ``db.commit()``.

    SQL is written with ``?`` placeholders (turned into ``%s`` for drivers that use those) and
    holds no literal ``?`` or ``%``. Leaving the block returns the connection to the pool, which
    rolls back what was not committed; an interruption (a greenlet killed, a timeout, Ctrl-C)
    closes the session instead, since its state is then unknown.
    """

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        if self.dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise ValueError(f"unsupported DB-API paramstyle {self.dialect.paramstyle!r}")
        self._engine = engine
        self._format = self.dialect.paramstyle != "qmark"
        self._error = self.dialect.loaded_dbapi.Error
        self._failed: tuple[str | None, tuple[Any, ...]] = (None, ())
        self._discard = False

    def _wrap(self, exc: Exception, gone: bool) -> DBAPIError:
        statement, params = self._failed
        return DBAPIError.instance(statement, params, exc, self._error,
                                   connection_invalidated=gone, dialect=self.dialect)

    def __enter__(self) -> PooledStatements:
        try:
            self.conn = self._engine.raw_connection()
        except self._error as exc:  # the pool could not connect (pre-ping, database down)
            raise self._wrap(exc, self.dialect.is_disconnect(exc, None, None)) from exc
        try:
            self.cursor = self.conn.cursor()
        except BaseException as exc:
            self.conn.invalidate(exc if isinstance(exc, Exception) else None)
            self.conn.close()
            if isinstance(exc, self._error):
                raise self._wrap(exc, True) from exc
            raise
        return self

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Execute one statement; returns the cursor (``fetchone`` and friends)."""
        try:
            self.cursor.execute(sql.replace("?", "%s") if self._format else sql, params)
        except self._error:
            self._failed = (sql, params)  # what the error names, whatever runs after it
            raise
        return self.cursor

    def commit(self) -> None:
        """Commit the current transaction."""
        try:
            self.conn.commit()
        except self._error:
            self._failed = ("COMMIT", ())
            raise

    def rollback(self) -> None:
        """Roll back the current transaction (nothing to do, and no round trip, outside one)."""
        self.conn.rollback()

    def discard(self) -> None:
        """At the end of the block, close the database session instead of pooling it (whatever
        it holds, such as a session-level lock, is released)."""
        self._discard = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        gone = False
        try:
            self.cursor.close()
        except Exception:  # a broken connection's cursor: what becomes of it is decided below
            pass
        finally:
            if exc is not None and not isinstance(exc, Exception):
                self._discard = True  # interrupted mid-statement: the session's state is unknown
            if isinstance(exc, self._error):
                gone = self.dialect.is_disconnect(exc, self.conn.dbapi_connection, None)
            if (gone or self._discard) and self.conn.is_valid:
                self.conn.invalidate(exc if isinstance(exc, Exception) else None)
            self.conn.close()
        if isinstance(exc, self._error):
            raise self._wrap(exc, gone) from exc
