"""async_result: the accepted request's digest, so a re-POST of its query_id with another body is refused

Revision ID: ar12_0002
Revises: ar12_0001
Create Date: 2026-12-02 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "ar12_0002"
down_revision = "ar12_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("async_result", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("async_result", schema=None) as batch_op:
        batch_op.drop_column("request_digest")
