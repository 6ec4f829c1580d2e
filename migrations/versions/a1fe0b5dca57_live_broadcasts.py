"""live broadcasts: broadcasts, their chat messages, muted viewers

Revision ID: a1fe0b5dca57
Revises: c4115a0e7b21
Create Date: 2026-12-07 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1fe0b5dca57'
down_revision = 'c4115a0e7b21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('live_broadcasts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('recipe_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('current_step', sa.Integer(), nullable=True),
    sa.Column('janus_room', sa.BigInteger(), nullable=True),
    sa.Column('janus_secret', sa.String(length=64), nullable=True),
    sa.Column('janus_tokens', sa.JSON(), nullable=False),
    sa.Column('p2p_viewers', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['host_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipe_id'], ['recipes.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('live_broadcasts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_broadcasts_host_id'), ['host_id'], unique=False)
        batch_op.create_index('ix_live_broadcasts_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('live_chat_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('live_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['live_id'], ['live_broadcasts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('live_chat_messages', schema=None) as batch_op:
        batch_op.create_index('ix_live_chat_messages_live_id_id', ['live_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_chat_messages_user_id'), ['user_id'], unique=False)

    op.create_table('live_mutes',
    sa.Column('live_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['live_id'], ['live_broadcasts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('live_id', 'user_id')
    )
    with op.batch_alter_table('live_mutes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_mutes_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('live_mutes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_mutes_user_id'))

    op.drop_table('live_mutes')
    with op.batch_alter_table('live_chat_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_chat_messages_user_id'))
        batch_op.drop_index('ix_live_chat_messages_live_id_id')

    op.drop_table('live_chat_messages')
    with op.batch_alter_table('live_broadcasts', schema=None) as batch_op:
        batch_op.drop_index('ix_live_broadcasts_status_created_at')
        batch_op.drop_index(batch_op.f('ix_live_broadcasts_host_id'))

    op.drop_table('live_broadcasts')
