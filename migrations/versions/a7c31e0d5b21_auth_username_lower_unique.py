"""auth: usernames unique case-insensitively (an index on lower(username))

Revision ID: a7c31e0d5b21
Revises: fedf9ee4899e
Create Date: 2026-12-02 18:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

revision = 'a7c31e0d5b21'
down_revision = 'fedf9ee4899e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('uq_users_username_lower', 'users', [sa.text('lower(username)')], unique=True)


def downgrade():
    op.drop_index('uq_users_username_lower', table_name='users')
