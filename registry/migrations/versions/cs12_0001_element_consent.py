"""elements: `consent_required`, released only with the subject's consent (个人信息保护法 第二十九条)

Revision ID: cs12_0001
Revises: r3_0002
Create Date: 2026-12-02 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "cs12_0001"
down_revision = "r3_0002"
branch_labels = ("element-consent",)
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild, which would drop a table other rows reference).
    op.add_column(
        "data_element", sa.Column("consent_required", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # native DROP COLUMN, no rebuild (as r3_0002)
        op.execute("ALTER TABLE data_element DROP COLUMN consent_required")
        return
    op.drop_column("data_element", "consent_required")
