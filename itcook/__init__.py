"""IT Cook: the application factory."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults and ``ITCOOK_*`` environment, then ``test_config``."""
    app = Flask(__name__, instance_relative_config=True,
                static_folder=os.path.join(os.path.dirname(__file__), os.pardir, "static"),
                static_url_path="/static")
    os.makedirs(app.instance_path, exist_ok=True)
    from itcook.validation import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route: ids fit a 64-bit column

    from itcook.config import load_config, resolve_jwt_secret

    app.config.from_mapping(load_config(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=app.config["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(app.config["DATABASE_URL"]),
        JWT_SECRET_KEY=resolve_jwt_secret(app.config, app.instance_path),
        JWT_ACCESS_TOKEN_EXPIRES=dt.timedelta(minutes=app.config["ACCESS_TOKEN_MINUTES"]),
        JWT_REFRESH_TOKEN_EXPIRES=dt.timedelta(days=app.config["REFRESH_TOKEN_DAYS"]),
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JSON_SORT_KEYS=False,
    )
    # The plugin's broker is IT Cook's (the login throttles share its Redis), and Prometheus
    # finds it at the root /metrics, as the deployment docs say.
    app.config.setdefault("REALTIME_BROKER_URL", app.config["BROKER_URL"])
    app.config.setdefault("REALTIME_BROKER_PREFIX", app.config["BROKER_PREFIX"])
    app.config.setdefault("REALTIME_ROOT_METRICS", True)

    from itcook.errors import register_error_handlers
    from itcook.extensions import db, jwt, migrate, use_sqlite_pragmas

    db.init_app(app)
    with app.app_context():
        use_sqlite_pragmas(db.engine)
    # render_as_batch: SQLite can only ALTER tables by copying them; Alembic's batch mode does it.
    from itcook.nearby.spatial import include_name

    # include_name: autogenerate must not drop the spatial index that lives beside the models.
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), os.pardir,
                                                     "migrations"), render_as_batch=True,
                     include_name=include_name)
    jwt.init_app(app)
    register_error_handlers(app)
    from itcook import i18n

    i18n.init_app(app)

    from itcook import (
        admin,
        auth,
        community,
        fridge,
        goals,
        groups,
        nearby,
        notifications,
        plans,
        push,
        recipes,
        web,
    )
    from itcook.cli import register_cli

    auth.init_jwt(app)
    for module in (auth, community, fridge, goals, recipes, admin, web, notifications, groups, push,
                   nearby, plans):
        app.register_blueprint(module.bp)
    fridge.init_app(app)
    push.init_app(app)
    recipes.init_app(app)
    register_cli(app)

    from itcook.plugins import init_realtime

    init_realtime(app)
    _trust_proxies(app, app.config["PROXY_COUNT"])
    return app


def _trust_proxies(app: Flask, count: int) -> None:
    """Take scheme, host and client address from the ``count`` proxies in front (ProxyFix)."""
    if count < 0:
        raise RuntimeError(f"ITCOOK_PROXY_COUNT: must be 0 or more, not {count}")
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # X-Forwarded-Host carries the port the browser used (nginx: $http_host), so the
        # origin rule compares with the public origin; X-Forwarded-Port is not trusted.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]


def start_services(app: Flask) -> None:
    """Start what runs beside the requests of a serving process: periodic jobs, the event stream."""
    from itcook import jobs

    jobs.start(app)
    app.extensions["realtime"].ensure_started()


def close_streams(app: Flask) -> None:
    """The start of a graceful stop: close live streams with 1001 and refuse new ones."""
    app.extensions["realtime"].close_streams()


def stop_services(app: Flask, timeout: float = 5.0) -> None:
    """Close live streams with 1001 (clients resume elsewhere) and stop the periodic jobs."""
    from itcook import jobs, push

    app.extensions["realtime"].shutdown()
    for coalescer in app.extensions.get("live.coalescers", {}).values():
        coalescer.stop()
    jobs.stop(app, timeout=timeout)
    push.stop(app)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several greenlets share the file: wait for a lock instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}
