"""realtime tickets: the principal id as JSON text (string ids work, not only integers)

Revision ID: e4a1c9b0d2f7
Revises: 7c1f0e5a9b21
Create Date: 2026-12-07 15:30:00.000000

The table is built anew: a ticket lives 30 seconds, so dropping the unused ones only makes a
browser ask for another.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4a1c9b0d2f7'
down_revision = '7c1f0e5a9b21'
branch_labels = None
depends_on = None


def _tickets(user_id_type: sa.types.TypeEngine) -> None:
    with op.batch_alter_table('realtime_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_realtime_tickets_expires_at'))
    op.drop_table('realtime_tickets')
    op.create_table('realtime_tickets',
    sa.Column('ticket_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', user_id_type, nullable=False),
    sa.Column('session', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('ticket_hash')
    )
    with op.batch_alter_table('realtime_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_realtime_tickets_expires_at'), ['expires_at'], unique=False)


def upgrade():
    _tickets(sa.String(length=255))


def downgrade():
    _tickets(sa.Integer())
