"""department public keys (signing and encryption JWKs)

Revision ID: k4_0001
Revises: 0001
Create Date: 2026-11-28 08:05:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "k4_0001"
down_revision = "0001"
branch_labels = ("department-keys",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "department_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("kid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("use", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("not_after", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("use IN ('sig','enc')", name="ck_department_key_use"),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("department_id", "kid", name="uq_department_key_kid"),
    )
    with op.batch_alter_table("department_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_department_key_department_id"), ["department_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("department_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_department_key_department_id"))
    op.drop_table("department_key")
