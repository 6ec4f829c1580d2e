"""Locks that make a check-then-write (a quota, a membership rule) hold under concurrency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from itcook.extensions import db


def lock_for_update(model: type[Any], ident: int) -> bool:
    """Serialize writers of this row until the transaction ends; False if the row does not exist.

    A count followed by an insert lets every concurrent request see the same count. On
    PostgreSQL this takes the row's lock (``SELECT ... FOR UPDATE``): a second request waits
    here until the first commits, then counts what it committed (READ COMMITTED). SQLite has no
    row locks and ignores FOR UPDATE: the transaction takes the database's write lock up front
    (``BEGIN IMMEDIATE``), which is what any other writer waits for.
    """
    pk = model.__mapper__.primary_key[0]
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        # Not in a transaction yet (pysqlite starts one at the first write): start it as a writer.
        # Already in one means a write was made, and the write lock is already held.
        if raw is not None and not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
        return db.session.execute(select(pk).where(pk == ident)).first() is not None
    return db.session.execute(select(pk).where(pk == ident).with_for_update()).first() is not None
