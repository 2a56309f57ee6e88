"""client systems (OAuth clients) and their public keys

Revision ID: s4_0001
Revises: 0001
Create Date: 2026-11-28 08:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "s4_0001"
down_revision = "0001"
branch_labels = ("systems",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_system",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("client_system", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_system_client_id"), ["client_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_client_system_department_id"), ["department_id"], unique=False)

    op.create_table(
        "client_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("kid", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("jwk", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("valid_from", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("valid_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["client_system.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system_id", "kid", name="uq_client_key_system_kid"),
    )
    with op.batch_alter_table("client_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_key_system_id"), ["system_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("client_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_key_system_id"))
    op.drop_table("client_key")
    with op.batch_alter_table("client_system", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_system_department_id"))
        batch_op.drop_index(batch_op.f("ix_client_system_client_id"))
    op.drop_table("client_system")
