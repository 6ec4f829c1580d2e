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

    SQL is written with ``?`` placeholders (turned into ``%s`` for drivers that use those).
    Leaving the block returns the connection to the pool, which rolls back what was not committed.
    """

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self._engine = engine
        self._format = self.dialect.paramstyle != "qmark"
        self._statement: str | None = None
        self._params: tuple[Any, ...] = ()
        self._discard = False

    def __enter__(self) -> PooledStatements:
        self.conn = self._engine.raw_connection()
        self.cursor = self.conn.cursor()
        return self

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Execute one statement; returns the cursor (``fetchone`` and friends)."""
        self._statement, self._params = sql, params
        self.cursor.execute(sql.replace("?", "%s") if self._format else sql, params)
        return self.cursor

    def commit(self) -> None:
        """Commit the current transaction."""
        self._statement, self._params = "COMMIT", ()
        self.conn.commit()

    def discard(self) -> None:
        """At the end of the block, close the database session instead of pooling it (whatever
        it holds, such as a session-level lock, is released)."""
        self._discard = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        error = self.dialect.loaded_dbapi.Error
        try:
            self.cursor.close()
        except error:
            pass  # a broken connection's cursor: what happens to the connection is decided below
        gone = isinstance(exc, error) and self.dialect.is_disconnect(exc, self.conn.dbapi_connection, None)
        if gone or self._discard:
            self.conn.invalidate(exc if isinstance(exc, Exception) else None)
        self.conn.close()
        if isinstance(exc, error):
            raise DBAPIError.instance(self._statement, self._params, exc, error,
                                      connection_invalidated=gone, dialect=self.dialect) from exc
