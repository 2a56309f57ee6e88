"""corrections: consumers' reports of wrong values, routed to the element's source (issue 11)

Revision ID: c11_0001
Revises: g0001
Create Date: 2026-12-10 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "c11_0001"
down_revision = "g0001"
branch_labels = ("corrections",)
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    time = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "correction",
        sa.Column("id", _text(32), nullable=False),
        sa.Column("element", _text(80), nullable=False),
        sa.Column("subject_type", _text(16), nullable=False),
        sa.Column("subject_index", _text(64), nullable=False),
        sa.Column("query_id", _text(64), nullable=False),
        sa.Column("filer", _text(32), nullable=False),
        sa.Column("filed_by", _text(64), nullable=False),
        sa.Column("source", _text(32), nullable=False),
        sa.Column("state", _text(16), nullable=False),
        sa.Column("problem", _text(2000), nullable=False),
        sa.Column("proposed_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("evidence_ref", _text(200), nullable=True),
        sa.Column("state_reason", _text(500), nullable=True),
        sa.Column("filed_at", time(), nullable=False),
        sa.Column("routed_at", time(), nullable=False),
        sa.Column("updated_at", time(), nullable=False),
        sa.Column("take_up_due", time(), nullable=False),
        sa.Column("close_due", time(), nullable=False),
        sa.Column("accepted_at", time(), nullable=True),
        sa.Column("closed_at", time(), nullable=True),
        sa.Column("escalated_at", time(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correction_element"), ["element"], unique=False)
        batch_op.create_index(batch_op.f("ix_correction_filer"), ["filer"], unique=False)
        batch_op.create_index(batch_op.f("ix_correction_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_correction_state"), ["state"], unique=False)
        batch_op.create_index("ix_correction_subject_state", ["subject_index", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_index("ix_correction_subject_state")
        batch_op.drop_index(batch_op.f("ix_correction_state"))
        batch_op.drop_index(batch_op.f("ix_correction_source"))
        batch_op.drop_index(batch_op.f("ix_correction_filer"))
        batch_op.drop_index(batch_op.f("ix_correction_element"))
    op.drop_table("correction")
