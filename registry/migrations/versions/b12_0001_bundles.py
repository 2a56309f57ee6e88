"""service items: subject roles, bundles (一件事) with steps, and the subject role of each material

Revision ID: b12_0001
Revises: 0001
Create Date: 2026-12-02 15:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b12_0001"
down_revision = "0001"
branch_labels = ("bundles",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_item_subject",
        sa.Column("service_item_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["service_item_id"], ["service_item.id"]),
        sa.PrimaryKeyConstraint("service_item_id", "role"),
    )
    op.create_table(
        "service_item_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_item_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"]),
        sa.ForeignKeyConstraint(["service_item_id"], ["service_item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_item_id", "code", name="uq_step_item_code"),
    )
    op.create_index(
        op.f("ix_service_item_step_service_item_id"), "service_item_step", ["service_item_id"], unique=False
    )
    # The material is the key: a material belongs to one step at most.
    op.create_table(
        "service_item_step_material",
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["material_id"], ["material.id"]),
        sa.ForeignKeyConstraint(["step_id"], ["service_item_step.id"]),
        sa.PrimaryKeyConstraint("material_id"),
    )
    op.create_index(
        op.f("ix_service_item_step_material_step_id"), "service_item_step_material", ["step_id"], unique=False
    )
    # NULL for existing materials: they are the item's first role's (its default applicant).
    op.add_column("material", sa.Column("subject_role", sa.String(length=32), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # native DROP COLUMN, no rebuild (as r3_0002)
        op.execute("ALTER TABLE material DROP COLUMN subject_role")
    else:
        op.drop_column("material", "subject_role")
    op.drop_index(op.f("ix_service_item_step_material_step_id"), table_name="service_item_step_material")
    op.drop_table("service_item_step_material")
    op.drop_index(op.f("ix_service_item_step_service_item_id"), table_name="service_item_step")
    op.drop_table("service_item_step")
    op.drop_table("service_item_subject")
