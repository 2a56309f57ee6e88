"""transparency: departments' restrictions of accesses shown to citizens

Revision ID: t5_0001
Revises: g0001
Create Date: 2026-11-28 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "t5_0001"
down_revision = "g0001"
branch_labels = ("transparency",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transparency_restriction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("embargo_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transparency_restriction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transparency_restriction_query_id"), ["query_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transparency_restriction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transparency_restriction_query_id"))
    op.drop_table("transparency_restriction")
