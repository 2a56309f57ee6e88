"""consent: requests for the subject's consent (单独同意) and their answers (exchange/consent)

Revision ID: cn12_0001
Revises: g0001
Create Date: 2026-12-02 12:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "cn12_0001"
down_revision = "g0001"
branch_labels = ("consent",)
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    time = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "consent_request",
        sa.Column("id", _text(32), nullable=False),
        sa.Column("consumer", _text(32), nullable=False),
        sa.Column("system", _text(64), nullable=True),
        sa.Column("on_behalf_of", _text(64), nullable=False),
        sa.Column("subject_type", _text(16), nullable=False),
        sa.Column("subject_index", _text(64), nullable=False),
        sa.Column("subject_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("elements", sa.JSON(), nullable=False),
        sa.Column("service_item", _text(64), nullable=False),
        sa.Column("case_no", _text(64), nullable=False),
        sa.Column("query_id", _text(64), nullable=False),
        sa.Column("state", _text(16), nullable=False),
        sa.Column("created_at", time(), nullable=False),
        sa.Column("expires_at", time(), nullable=False),
        sa.Column("answered_at", time(), nullable=True),
        sa.Column("grant_until", time(), nullable=True),
        sa.Column("answer_sealed", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_request_consumer"), ["consumer"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_request_state"), ["state"], unique=False)
        batch_op.create_index("ix_consent_request_subject_state", ["subject_index", "state"], unique=False)


def downgrade() -> None:
    op.drop_table("consent_request")
