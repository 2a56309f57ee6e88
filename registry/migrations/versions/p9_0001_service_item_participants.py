"""service item participants: the departments besides the handler that take part in an item

Revision ID: p9_0001
Revises: 0001
Create Date: 2026-12-01 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "p9_0001"
down_revision = "0001"
branch_labels = ("service-item-participants",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_item_participant",
        sa.Column("service_item_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"]),
        sa.ForeignKeyConstraint(["service_item_id"], ["service_item.id"]),
        sa.PrimaryKeyConstraint("service_item_id", "department_id"),
    )


def downgrade() -> None:
    op.drop_table("service_item_participant")
