"""ids never reused on SQLite; session keys bind tokens and tickets to their account

On SQLite a table without AUTOINCREMENT gives a deleted newest row's id to the next insert:
a new account inherited the old one's tokens and personal events. Each such table is rebuilt
with AUTOINCREMENT (env.py turns foreign keys off meanwhile), and its sqlite_sequence is seeded
at the highest id the table or the event log still names, so that an id deleted before this
upgrade does not come back either. PostgreSQL sequences never go back: only the columns there.

Revision ID: fedf9ee4899e
Revises: 5e1f0c2a7d93
Create Date: 2026-12-02 17:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fedf9ee4899e'
down_revision = '5e1f0c2a7d93'
branch_labels = None
depends_on = None

_EVENTS = "FROM realtime_events WHERE "
_CHANNEL_ID = "max(CAST(substr(channel, 6) AS INTEGER)) "
#: Per table rebuilt: queries of ids that existed once and may be gone from the table now.
FLOORS = {
    "users": [f"SELECT {_CHANNEL_ID}{_EVENTS}channel LIKE 'user:%'",
              "SELECT max(user_id) FROM realtime_tickets"],
    "posts": [f"SELECT {_CHANNEL_ID}{_EVENTS}channel LIKE 'post:%'",
              f"SELECT max(CAST(json_extract(data, '$.post_id') AS INTEGER)) {_EVENTS}"
              "channel NOT LIKE 'group:%'"],
    "comments": [f"SELECT max(CAST(json_extract(data, '$.comment_id') AS INTEGER)) {_EVENTS}1"],
    "fridge_items": [],
    "goals": [f"SELECT max(CAST(json_extract(data, '$.goal_id') AS INTEGER)) {_EVENTS}1"],
    "recipes": [f"SELECT max(CAST(json_extract(data, '$.recipe_id') AS INTEGER)) {_EVENTS}1"],
    "group_posts": [f"SELECT max(CAST(json_extract(data, '$.post_id') AS INTEGER)) {_EVENTS}"
                    "channel LIKE 'group:%'"],
    "push_subscriptions": [],
}


def _floor(conn: sa.Connection, table: str) -> int:
    values = [conn.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar()]
    values += [conn.exec_driver_sql(query).scalar() for query in FLOORS[table]]
    return max(int(v) for v in values if v is not None) if any(v is not None for v in values) else 0


def _seed_sequence(conn: sa.Connection, table: str, floor: int) -> None:
    # The copy into the rebuilt table already set seq to its max(id); only ever raise it.
    updated = conn.execute(sa.text("UPDATE sqlite_sequence SET seq = max(seq, :floor) WHERE name = :t"),
                           {"floor": floor, "t": table}).rowcount
    if not updated and floor:
        conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :floor)"),
                     {"floor": floor, "t": table})


def upgrade():
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    with op.batch_alter_table('realtime_tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session', sa.String(length=64), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_key', sa.String(length=32), nullable=True))
    # Any distinct value will do: tokens issued before this upgrade carry no key and are refused.
    random_key = "lower(hex(randomblob(16)))" if sqlite else "md5(random()::text || id::text)"
    op.execute(f"UPDATE users SET session_key = {random_key}")
    floors = {table: _floor(conn, table) for table in FLOORS} if sqlite else {}
    with op.batch_alter_table('users', schema=None, recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column('session_key', existing_type=sa.String(length=32), nullable=False)
    for table in FLOORS:
        if table != "users" and sqlite:
            with op.batch_alter_table(table, recreate="always",
                                      table_kwargs={"sqlite_autoincrement": True}):
                pass
    for table, floor in floors.items():
        _seed_sequence(conn, table, floor)


def downgrade():
    # AUTOINCREMENT stays: handing out deleted ids again would bring the leak back.
    with op.batch_alter_table('users', schema=None,
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column('session_key')
    with op.batch_alter_table('realtime_tickets', schema=None) as batch_op:
        batch_op.drop_column('session')
