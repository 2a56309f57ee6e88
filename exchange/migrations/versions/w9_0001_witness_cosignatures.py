"""audit witness: the log-wide tree root of each checkpoint, its frontier, and its witness co-signatures

`tree_root` is signed with the checkpoint (exchange/audit/checkpoint.py); checkpoints signed before this
revision keep none, and the first checkpoint after it rebuilds the tree from the records online.

Revision ID: w9_0001
Revises: a5_0002
Create Date: 2026-12-02 00:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "w9_0001"
down_revision = "a5_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tree_root", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("frontier", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cosignatures", sa.Text(), nullable=True))
    with op.batch_alter_table("audit_archive", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frontier", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_archive", schema=None) as batch_op:
        batch_op.drop_column("frontier")
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.drop_column("cosignatures")
        batch_op.drop_column("frontier")
        batch_op.drop_column("tree_root")
