"""realtime_event_days: events per type per finished day, outliving the log's retention

Revision ID: 5e1f0c2a7d93
Revises: d814e18c8346
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e1f0c2a7d93'
down_revision = 'd814e18c8346'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('realtime_event_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'type')
    )


def downgrade():
    op.drop_table('realtime_event_days')
