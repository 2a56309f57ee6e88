"""transparency: a steward's or officer's approval of restrictions beyond the short default

Revision ID: t5_0002
Revises: t5_0001
Create Date: 2026-12-01 21:55:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "t5_0002"
down_revision = "t5_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transparency_restriction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("approved_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("transparency_restriction", schema=None) as batch_op:
        batch_op.drop_column("approved_by")
        batch_op.drop_column("approved_at")
