"""nearby: opt-in areas with a spatial index (R*Tree / PostGIS), offers, recipients, blocks

Revision ID: a7c3e1f4b920
Revises: a7c31e0d5b21
Create Date: 2026-12-02 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e1f4b920'
down_revision = 'a7c31e0d5b21'
branch_labels = None
depends_on = None

# Kept verbatim from itcook/nearby/spatial.py at the time of writing (a migration must not
# change when the code does).
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS nearby_area_boxes USING rtree("
    "id, min_lat, max_lat, min_lon, max_lon)",
    "CREATE TRIGGER IF NOT EXISTS nearby_areas_boxes_delete AFTER DELETE ON nearby_areas BEGIN "
    "DELETE FROM nearby_area_boxes WHERE id IN (old.user_id * 2, old.user_id * 2 + 1); END",
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS nearby_areas_boxes_delete",
               "DROP TABLE IF EXISTS nearby_area_boxes")
POSTGIS_MISSING = ("Nearby needs PostGIS on PostgreSQL: install the server package "
                   "(Debian: postgresql-<version>-postgis-3)")
POSTGRES_DDL = (
    "ALTER TABLE nearby_areas ADD COLUMN circle geography(Polygon, 4326) GENERATED ALWAYS AS "
    "(ST_Buffer(ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, radius_km * 1050 + 100, 16)) "
    "STORED",
    "CREATE INDEX ix_nearby_areas_circle ON nearby_areas USING gist (circle)",
)


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        available = op.get_bind().execute(sa.text(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
        if available is None:
            raise RuntimeError(POSTGIS_MISSING)
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('nearby_areas',
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('radius_km', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('nearby_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('approx_lat', sa.Float(), nullable=False),
    sa.Column('approx_lon', sa.Float(), nullable=False),
    sa.Column('pickup_until', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claimed_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('nearby_offers', schema=None) as batch_op:
        batch_op.create_index('ix_nearby_offers_claimed_by_claimed_at', ['claimed_by', 'claimed_at'], unique=False)
        batch_op.create_index('ix_nearby_offers_status_lat', ['status', 'approx_lat'], unique=False)
        batch_op.create_index('ix_nearby_offers_user_id_created_at', ['user_id', 'created_at'], unique=False)
    op.create_table('nearby_recipients',
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['nearby_offers.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'user_id')
    )
    with op.batch_alter_table('nearby_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nearby_recipients_user_id'), ['user_id'], unique=False)
    op.create_table('nearby_blocks',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('blocked_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['blocked_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'blocked_id')
    )
    with op.batch_alter_table('nearby_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nearby_blocks_blocked_id'), ['blocked_id'], unique=False)
    for statement in SQLITE_DDL if dialect == 'sqlite' else POSTGRES_DDL if dialect == 'postgresql' else ():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        for statement in SQLITE_DROP:
            op.execute(statement)
    op.drop_table('nearby_blocks')
    op.drop_table('nearby_recipients')
    op.drop_table('nearby_offers')
    op.drop_table('nearby_areas')
