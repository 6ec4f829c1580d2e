"""Extension instances only; each is bound to the app in ``create_app``."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model (SQLAlchemy 2.0 typed mappings)."""


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    """SQLite enforces foreign keys (and ON DELETE rules) only when asked, per connection."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
migrate = Migrate()
jwt = JWTManager()

# Imported last: the plugin's modules import ``db`` from here.
from itcook.realtime import Realtime  # noqa: E402

realtime = Realtime()
