"""audit_entry columns named as the record fields: actor -> actor_department, query_id -> request_id

The chain, the exports and the typed record (exchange/audit/events.py) call them `actor_department`
and `request_id`; the table now does too, so nothing is renamed between a record and its row. Only
names change: the stored values, and so every record's hash, stay exactly as they are.

Revision ID: a5_0002
Revises: a5_0001
Create Date: 2026-12-01 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a5_0002"
down_revision = "a5_0001"
branch_labels = None
depends_on = None

# (old column, new column); each has an index `ix_audit_entry_<column>`.
_RENAMES = (("actor", "actor_department"), ("query_id", "request_id"))


def upgrade() -> None:
    _rename(_RENAMES)


def downgrade() -> None:
    _rename(tuple((new, old) for old, new in _RENAMES))


def _rename(renames: tuple[tuple[str, str], ...]) -> None:
    for old, _new in renames:
        op.drop_index(f"ix_audit_entry_{old}", table_name="audit_entry")
    # Batch mode: SQLite copies the table with the new names; PostgreSQL gets ALTER TABLE ... RENAME COLUMN.
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        for old, new in renames:
            batch_op.alter_column(
                old, new_column_name=new, existing_type=sa.String(length=64), existing_nullable=True
            )
    for _old, new in renames:
        op.create_index(f"ix_audit_entry_{new}", "audit_entry", [new], unique=False)
