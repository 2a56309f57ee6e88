"""corrections: the subject's identifier, sealed by the gateway, for the recall copies (protocol/recall.py)

Revision ID: c11_0002
Revises: c11_0001
Create Date: 2026-12-02 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c11_0002"
down_revision = "c11_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_column("subject_sealed")
