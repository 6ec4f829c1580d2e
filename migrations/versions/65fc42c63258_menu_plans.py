"""menu plans: plans, entries, applied operations, shopping checks

Revision ID: 65fc42c63258
Revises: e4a1c9b0d2f7
Create Date: 2026-12-07 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '65fc42c63258'
down_revision = 'e4a1c9b0d2f7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('menu_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('menu_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_menu_plans_group_id'), ['group_id'], unique=False)
        batch_op.create_index('ix_menu_plans_owner_id_week_start', ['owner_id', 'week_start'], unique=False)

    op.create_table('menu_plan_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('meal', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('recipe_id', sa.Integer(), nullable=True),
    sa.Column('servings', sa.Integer(), nullable=False),
    sa.Column('cook_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('field_versions', sa.JSON(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['cook_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['menu_plans.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipe_id'], ['recipes.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('menu_plan_entries', schema=None) as batch_op:
        batch_op.create_index('ix_menu_plan_entries_plan_id_date', ['plan_id', 'date'], unique=False)

    op.create_table('menu_plan_ops',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('op_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['menu_plans.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_id', 'op_id')
    )
    with op.batch_alter_table('menu_plan_ops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_menu_plan_ops_user_id'), ['user_id'], unique=False)

    op.create_table('shopping_checks',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('checked_by', sa.Integer(), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['checked_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['menu_plans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_id', 'name')
    )


def downgrade():
    op.drop_table('shopping_checks')
    with op.batch_alter_table('menu_plan_ops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_menu_plan_ops_user_id'))

    op.drop_table('menu_plan_ops')
    with op.batch_alter_table('menu_plan_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_menu_plan_entries_plan_id_date')

    op.drop_table('menu_plan_entries')
    with op.batch_alter_table('menu_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_menu_plans_owner_id_week_start')
        batch_op.drop_index(batch_op.f('ix_menu_plans_group_id'))

    op.drop_table('menu_plans')
