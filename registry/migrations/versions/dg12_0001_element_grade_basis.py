"""elements: `grade_basis` (定级依据), why an element has its data grade (数据安全法 第二十一条)

Revision ID: dg12_0001
Revises: cs12_0001
Create Date: 2026-12-02 15:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "dg12_0001"
down_revision = "cs12_0001"
branch_labels = ("element-grade-basis",)
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild, which would drop a table other rows reference); existing
    # elements get an empty basis, which the console shows as "not recorded".
    op.add_column(
        "data_element",
        sa.Column(
            "grade_basis", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False, server_default=""
        ),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # native DROP COLUMN, no rebuild (as r3_0002)
        op.execute("ALTER TABLE data_element DROP COLUMN grade_basis")
        return
    op.drop_column("data_element", "grade_basis")
