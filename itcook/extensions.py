"""Extension instances only; each is bound to the app in ``create_app``."""

from __future__ import annotations

from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model (SQLAlchemy 2.0 typed mappings)."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
jwt = JWTManager()

# Imported last: the plugin's modules import ``db`` from here.
from itcook.realtime import Realtime  # noqa: E402

realtime = Realtime()
