"""push: notification dedupe key, per-user push budget

Revision ID: d814e18c8346
Revises: bc186542ee9d
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd814e18c8346'
down_revision = 'bc186542ee9d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('push_budgets',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=120), nullable=True))
        batch_op.create_index('ux_notifications_user_id_dedupe_key', ['user_id', 'dedupe_key'], unique=True)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ux_notifications_user_id_dedupe_key')
        batch_op.drop_column('dedupe_key')

    op.drop_table('push_budgets')
