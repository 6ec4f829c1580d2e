"""The factory itself: configuration sources and the JWT secret rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from itcook import create_app
from itcook.config import load_config, resolve_jwt_secret


def test_test_config_overrides_defaults(app) -> None:
    assert app.testing
    assert app.config["PAGE_SIZE"] == 20


def test_environment_variables_are_read(tmp_path: Path) -> None:
    config = load_config(str(tmp_path), {"ITCOOK_PAGE_SIZE": "7", "ITCOOK_REALTIME_ALLOWED_ORIGINS":
                                         "https://a.example, https://b.example"})
    assert config["PAGE_SIZE"] == 7
    assert config["REALTIME_ALLOWED_ORIGINS"] == ["https://a.example", "https://b.example"]
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'itcook.db'}"


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ITCOOK_PAGE_SIZE"):
        load_config(str(tmp_path), {"ITCOOK_PAGE_SIZE": "many"})


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = resolve_jwt_secret({"ENV": "development", "JWT_SECRET": ""}, str(tmp_path))
    second = resolve_jwt_secret({"ENV": "development", "JWT_SECRET": ""}, str(tmp_path))
    assert first == second and len(first) >= 40
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_secret(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ITCOOK_JWT_SECRET"):
        create_app({"ENV": "production", "JWT_SECRET": "", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


def test_unknown_route_is_json_404(client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_wrong_method_is_json_405(client) -> None:
    response = client.put("/api/v1/auth/login")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_settings_table_is_current(runner) -> None:
    """docs/deployment.md's settings table is `flask itcook settings`: a new setting must be documented."""
    document = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text()
    table = runner.invoke(args=["itcook", "settings"]).output.strip()
    assert table in document, "run `flask --app wsgi itcook settings` and paste it into docs/deployment.md"


def test_serving_processes_make_full_collections_rarer(tmp_path) -> None:
    """``python wsgi.py`` and gunicorn's workers call tune_gc: GC_FULL_EVERY sets the third threshold."""
    import gc

    from itcook import create_app
    from itcook.serving import tune_gc
    from tests.support.servers import make_test_config

    saved = gc.get_threshold()
    try:
        tune_gc(create_app(make_test_config(tmp_path, GC_FULL_EVERY=250)))
        assert gc.get_threshold() == (saved[0], saved[1], 250)
        tune_gc(create_app(make_test_config(tmp_path, GC_FULL_EVERY=0)))  # 0: left alone
        assert gc.get_threshold() == (saved[0], saved[1], 250)
    finally:
        gc.set_threshold(*saved)


def test_sqlite_database_keeps_a_write_ahead_log_and_full_sync(tmp_path) -> None:
    """Every SQLite connection: foreign keys on, WAL journal (one synced append per commit), FULL sync."""
    from sqlalchemy import text

    from itcook.extensions import db
    from tests.support.servers import make_test_config

    app = create_app(make_test_config(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'wal.db'}"))
    with app.app_context():
        db.create_all()
        try:
            pragmas = {name: db.session.execute(text(f"PRAGMA {name}")).scalar()
                       for name in ("journal_mode", "synchronous", "foreign_keys")}
        finally:
            db.session.remove()
            db.engine.dispose()
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
