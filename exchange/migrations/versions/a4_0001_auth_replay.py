"""used client-assertion ids (RFC 7523 jti single use, shared by every gateway instance)

Revision ID: a4_0001
Revises: g0001
Create Date: 2026-11-28 08:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "a4_0001"
down_revision = "g0001"
branch_labels = ("auth",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_used_assertion",
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("jti", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
    )
    with op.batch_alter_table("auth_used_assertion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_used_assertion_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("auth_used_assertion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_used_assertion_expires_at"))
    op.drop_table("auth_used_assertion")
