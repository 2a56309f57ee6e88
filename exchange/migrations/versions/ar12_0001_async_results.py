"""async_result: the stored, encrypted result of an asynchronous query until fetched once or expired

Revision ID: ar12_0001
Revises: q10_0001
Create Date: 2026-12-02 12:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "ar12_0001"
down_revision = "q10_0001"
branch_labels = ("async_results",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_result",
        sa.Column("consumer", sa.String(length=32), nullable=False),
        sa.Column("query_id", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("callback_url", sa.String(length=500), nullable=True),
        sa.Column("subject_index", sa.String(length=64), nullable=False),
        sa.Column("service_item", sa.String(length=64), nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ready_at", sa.DateTime(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("consumer", "query_id"),
    )
    op.create_index("ix_async_result_expires_at", "async_result", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_async_result_expires_at", table_name="async_result")
    op.drop_table("async_result")
