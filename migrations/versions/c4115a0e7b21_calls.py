"""calls: group video calls and their participants

Revision ID: c4115a0e7b21
Revises: 65fc42c63258
Create Date: 2026-12-07 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4115a0e7b21'
down_revision = '65fc42c63258'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('started_by', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['started_by'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_group_id_id', ['group_id', 'id'], unique=False)
        batch_op.create_index('uq_calls_group_id_live', ['group_id'], unique=True,
                              sqlite_where=sa.text('ended_at IS NULL'),
                              postgresql_where=sa.text('ended_at IS NULL'))

    op.create_table('call_participants',
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('joined_at', sa.DateTime(), nullable=False),
    sa.Column('away_since', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_id', 'user_id')
    )
    with op.batch_alter_table('call_participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_participants_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('call_participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_participants_user_id'))

    op.drop_table('call_participants')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('uq_calls_group_id_live')
        batch_op.drop_index('ix_calls_group_id_id')

    op.drop_table('calls')
