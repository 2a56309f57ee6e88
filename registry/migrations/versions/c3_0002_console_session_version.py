"""console users: a session version, bumped at sign-out, so a copied session cookie is refused

Revision ID: c3_0002
Revises: c3_0001
Create Date: 2026-12-01 21:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c3_0002"
down_revision = "c3_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("console_user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
