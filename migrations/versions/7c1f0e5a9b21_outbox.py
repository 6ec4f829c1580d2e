"""outbox: realtime_outbox holds the ids of logged events not yet published

Revision ID: 7c1f0e5a9b21
Revises: a7c3e1f4b920
Create Date: 2026-12-02 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1f0e5a9b21'
down_revision = 'a7c3e1f4b920'
branch_labels = None
depends_on = None


def upgrade():
    # Events logged before this revision were published by the process that logged them.
    op.create_table('realtime_outbox',
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['realtime_events.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id')
    )


def downgrade():
    op.drop_table('realtime_outbox')
