"""users: the chosen language and the language of the latest request

Revision ID: 1a6e5d0c3b82
Revises: 65fc42c63258
Create Date: 2026-12-07 23:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1a6e5d0c3b82'
down_revision = '65fc42c63258'
branch_labels = None
depends_on = None


# Plain ALTERs, not batch mode: SQLite adds (and, since 3.35, drops) a column in place, where
# batch mode's copy of the table would lose the expression index uq_users_username_lower.
def upgrade():
    op.add_column('users', sa.Column('language', sa.String(length=8), nullable=True))
    op.add_column('users', sa.Column('request_language', sa.String(length=8), nullable=True))


def downgrade():
    op.drop_column('users', 'request_language')
    op.drop_column('users', 'language')
