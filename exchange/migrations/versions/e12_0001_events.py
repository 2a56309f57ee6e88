"""events: published events' metadata and one delivery per recipient (双告知, docs/events.md)

Revision ID: e12_0001
Revises: g0001
Create Date: 2026-12-12 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "e12_0001"
down_revision = "g0001"
branch_labels = ("events",)
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    time = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "event",
        sa.Column("id", _text(48), nullable=False),
        sa.Column("type", _text(64), nullable=False),
        sa.Column("publisher", _text(32), nullable=False),
        sa.Column("published_by", _text(64), nullable=False),
        sa.Column("subject_type", _text(16), nullable=False),
        sa.Column("subject_index", _text(64), nullable=False),
        sa.Column("routing", sa.JSON(), nullable=False),
        sa.Column("body_digest", _text(64), nullable=False),
        sa.Column("published_at", time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_type"), ["type"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_publisher"), ["publisher"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_subject_index"), ["subject_index"], unique=False)
    op.create_table(
        "event_delivery",
        sa.Column("id", _text(32), nullable=False),
        sa.Column("event_id", _text(48), nullable=False),
        sa.Column("recipient", _text(32), nullable=False),
        sa.Column("state", _text(16), nullable=False),
        sa.Column("copy_jwe", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", time(), nullable=True),
        sa.Column("reason", _text(64), nullable=True),
        sa.Column("updated_at", time(), nullable=False),
        sa.Column("delivered_at", time(), nullable=True),
        sa.Column("acknowledged_at", time(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_delivery_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_delivery_recipient"), ["recipient"], unique=False)
        batch_op.create_index("ix_event_delivery_due", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_event_delivery_due")
        batch_op.drop_index(batch_op.f("ix_event_delivery_recipient"))
        batch_op.drop_index(batch_op.f("ix_event_delivery_event_id"))
    op.drop_table("event_delivery")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_subject_index"))
        batch_op.drop_index(batch_op.f("ix_event_publisher"))
        batch_op.drop_index(batch_op.f("ix_event_type"))
    op.drop_table("event")
