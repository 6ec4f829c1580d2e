"""The migrations build exactly the schema the models describe, and undo it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from itcook.extensions import db
from itcook.nearby.spatial import include_name


def _reset(app) -> None:
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_migrated_schema_equals_the_models(app) -> None:
    _reset(app)
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(
                    MigrationContext.configure(conn, opts={"include_name": include_name}), db.metadata)
                assert diff == [], f"models and migrations drifted: {diff}"
                tables = set(inspect(conn).get_table_names())
                assert set(db.metadata.tables) <= tables
                # The spatial index Nearby matches with, beside the models (nearby/spatial.py).
                if conn.dialect.name == "sqlite":
                    assert "nearby_area_boxes" in tables
                else:
                    assert conn.execute(text(
                        "SELECT 1 FROM information_schema.columns WHERE table_name = 'nearby_areas' "
                        "AND column_name = 'circle' AND udt_name = 'geography'")).first() is not None
            downgrade(revision="base")
            # PostGIS's spatial_ref_sys belongs to the extension, which outlives the downgrade.
            left = set(inspect(db.engine).get_table_names()) - {"alembic_version", "spatial_ref_sys"}
            assert left == set()
    finally:
        _reset(app)
