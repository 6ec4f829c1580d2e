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


def _rows(conn, sql: str) -> list[tuple]:
    return [tuple(row) for row in conn.execute(text(sql))]


def test_upgrading_a_database_with_reused_ids_never_hands_them_out_again(app) -> None:
    """A database made at the previous head, whose newest user and post were deleted: after
    the upgrade no id comes back, every row and link survived, old tokens carry no key."""
    _reset(app)
    try:
        with app.app_context():
            upgrade(revision="bc186542ee9d")
            with db.engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO users (id, username, display_name, password_hash, role, is_active,"
                    " created_at) VALUES (1, 'anna', 'Anna', 'x', 'user', true, '2026-01-01'),"
                    " (2, 'boris', 'Boris', 'x', 'user', true, '2026-01-01'),"
                    " (3, 'gone', 'Gone', 'x', 'user', true, '2026-01-01')"))
                conn.execute(text(
                    "INSERT INTO posts (id, author_id, content, likes_count, comments_count, created_at)"
                    " VALUES (1, 1, 'kept', 1, 1, '2026-01-01'), (2, 3, 'gone', 0, 0, '2026-01-01')"))
                conn.execute(text("INSERT INTO likes (user_id, post_id, created_at)"
                                  " VALUES (2, 1, '2026-01-01')"))
                conn.execute(text("INSERT INTO comments (id, post_id, author_id, content, created_at)"
                                  " VALUES (1, 1, 2, 'yum', '2026-01-01')"))
                conn.execute(text(
                    "INSERT INTO realtime_events (type, channel, data, ts, created_at) VALUES"
                    " ('PostLiked', 'user:3', '{\"post_id\": 2}', 't', '2026-01-01'),"
                    " ('NewComment', 'post:2', '{\"post_id\": 2, \"comment_id\": 7}', 't', '2026-01-01')"))
                if conn.dialect.name == "postgresql":  # what inserts without ids would have left
                    for table, high in (("users", 3), ("posts", 2), ("comments", 7)):
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {high})"))
                # The newest user and post are deleted before the upgrade (their events stay).
                conn.execute(text("DELETE FROM posts WHERE id = 2"))
                conn.execute(text("DELETE FROM users WHERE id = 3"))
            upgrade()
            with db.engine.begin() as conn:
                users = _rows(conn, "SELECT id, username FROM users ORDER BY id")
                assert users == [(1, "anna"), (2, "boris")]
                assert _rows(conn, "SELECT id, author_id FROM posts") == [(1, 1)]
                assert _rows(conn, "SELECT user_id, post_id FROM likes") == [(2, 1)]
                assert _rows(conn, "SELECT id, post_id, author_id FROM comments") == [(1, 1, 2)]
                keys = [row[0] for row in _rows(conn, "SELECT session_key FROM users")]
                assert len(set(keys)) == 2 and all(len(key) == 32 for key in keys)
                user_id = conn.execute(text(
                    "INSERT INTO users (username, display_name, password_hash, role, is_active,"
                    " created_at, session_key) VALUES ('new', 'New', 'x', 'user', true,"
                    " '2026-01-02', 'k') RETURNING id")).scalar_one()
                post_id = conn.execute(text(
                    "INSERT INTO posts (author_id, content, likes_count, comments_count, created_at)"
                    " VALUES (1, 'new', 0, 0, '2026-01-02') RETURNING id")).scalar_one()
                comment_id = conn.execute(text(
                    "INSERT INTO comments (post_id, author_id, content, created_at)"
                    " VALUES (1, 1, 'new', '2026-01-02') RETURNING id")).scalar_one()
            assert (user_id, post_id, comment_id) == (4, 3, 8)
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(
                    conn, opts={"include_name": include_name}), db.metadata)
            assert diff == [], f"models and migrations drifted: {diff}"
            if db.engine.dialect.name == "sqlite":
                with db.engine.connect() as conn:
                    assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                    plain = [name for name, sql in conn.exec_driver_sql(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                        if name in {"users", "posts", "comments", "fridge_items", "goals",
                                    "recipes", "groups", "group_posts", "push_subscriptions"}
                        and "AUTOINCREMENT" not in sql]
                assert plain == []
            downgrade(revision="bc186542ee9d")
            with db.engine.connect() as conn:
                assert _rows(conn, "SELECT id FROM users ORDER BY id") == [(1,), (2,), (4,)]
                assert _rows(conn, "SELECT count(*) FROM comments") == [(2,)]
    finally:
        _reset(app)
