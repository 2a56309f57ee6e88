"""event types (the 双告知 catalogue) and subscription conditions on routing fields

Revision ID: e11_0001
Revises: r3_0002
Create Date: 2026-12-02 07:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "e11_0001"
down_revision = "r3_0002"
branch_labels = ("event-types",)
depends_on = None

STR = sqlmodel.sql.sqltypes.AutoString
TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "event_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", STR(length=64), nullable=False),
        sa.Column("name", STR(length=200), nullable=False),
        sa.Column("source_department_id", sa.Integer(), nullable=False),
        sa.Column("payload_schema", sa.JSON(), nullable=False),
        sa.Column("routing_fields", sa.JSON(), nullable=False),
        sa.Column("status", STR(length=16), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        sa.Column("updated_at", TIME(), nullable=False),
        sa.ForeignKeyConstraint(["source_department_id"], ["department.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_type_code", "event_type", ["code"], unique=True)
    op.create_index("ix_event_type_source_department_id", "event_type", ["source_department_id"])
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("conditions", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("conditions")
    op.drop_index("ix_event_type_source_department_id", table_name="event_type")
    op.drop_index("ix_event_type_code", table_name="event_type")
    op.drop_table("event_type")
