"""query_record.response_sealed nullable: a query_id is claimed before any source is asked

A row with no sealed response is a query being answered (or one whose attempt was cut off): a second
request with that query_id is refused with `409 query_in_progress` instead of being answered and
released a second time (issue 10).

Revision ID: q10_0001
Revises: g0001
Create Date: 2026-12-02 00:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "q10_0001"
down_revision = "g0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("query_record", schema=None) as batch_op:
        batch_op.alter_column("response_sealed", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM query_record WHERE response_sealed IS NULL")
    with op.batch_alter_table("query_record", schema=None) as batch_op:
        batch_op.alter_column("response_sealed", existing_type=sa.LargeBinary(), nullable=False)
