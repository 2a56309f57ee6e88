"""client_system.callback_urls and department.answer_deadline_s: asynchronous queries (issue 12)

A system's registered callback URLs are the only ones the gateway calls for it; a source department's
answer deadline, when longer than the gateway's sync timeout, makes its queries answered asynchronously.

Revision ID: aq12_0001
Revises: s4_0001
Create Date: 2026-12-02 12:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "aq12_0001"
down_revision = "s4_0001"
branch_labels = ("async-queries",)
depends_on = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, not a batch copy: SQLite cannot drop and recreate a table (department,
    # client_system) that other tables' foreign keys point at, and it does support both statements.
    op.add_column(
        "client_system", sa.Column("callback_urls", sa.String(length=4000), nullable=False, server_default="")
    )
    op.add_column("department", sa.Column("answer_deadline_s", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("department", "answer_deadline_s")
    op.drop_column("client_system", "callback_urls")
