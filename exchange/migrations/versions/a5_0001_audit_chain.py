"""audit chain: hash-chained records, chain head, signed checkpoints, audit keys, archives

Revision ID: a5_0001
Revises: g0001
Create Date: 2026-11-28 08:00:00
"""

import json
import uuid
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "a5_0001"
down_revision = "g0001"
branch_labels = ("audit_chain",)
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime
GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column("actor_system", _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column("actor_user", _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", _STR(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", _STR(length=64), nullable=True))
        batch_op.alter_column("gateway", existing_type=_STR(length=64), nullable=True)
        batch_op.alter_column("actor", existing_type=_STR(length=64), nullable=True)
        batch_op.create_index(batch_op.f("ix_audit_entry_event_id"), ["event_id"], unique=True)

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", _BIGINT, nullable=False),
        sa.Column("hash", _STR(length=64), nullable=False),
        sa.Column("checkpoint_seq", _BIGINT, nullable=False),
        sa.Column("checkpoint_time", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("last_seq", _BIGINT, autoincrement=False, nullable=False),
        sa.Column("first_seq", _BIGINT, nullable=False),
        sa.Column("merkle_root", _STR(length=64), nullable=False),
        sa.Column("last_hash", _STR(length=64), nullable=False),
        sa.Column("time", _TIME(), nullable=False),
        sa.Column("kid", _STR(length=64), nullable=False),
        sa.Column("signature", _STR(length=128), nullable=False),
        sa.PrimaryKeyConstraint("last_seq"),
    )
    op.create_index("ix_audit_checkpoint_first_seq", "audit_checkpoint", ["first_seq"])
    op.create_table(
        "audit_key",
        sa.Column("kid", _STR(length=64), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "audit_archive",
        sa.Column("last_seq", _BIGINT, autoincrement=False, nullable=False),
        sa.Column("first_seq", _BIGINT, nullable=False),
        sa.Column("last_hash", _STR(length=64), nullable=False),
        sa.Column("path", _STR(length=1000), nullable=False),
        sa.Column("sha256", _STR(length=64), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("last_seq"),
    )
    head_seq, head_hash = _chain_existing_rows()
    head = sa.table(
        "audit_chain_head", sa.column("id"), sa.column("seq"), sa.column("hash"), sa.column("checkpoint_seq"),
        sa.column("checkpoint_time", _TIME()),
    )  # fmt: skip
    op.get_bind().execute(
        sa.insert(head),
        _head_params(head_seq, head_hash),
    )


def _head_params(seq: int, hash_: str) -> dict[str, object]:
    from protocol.clock import utcnow

    return {"id": 1, "seq": seq, "hash": hash_, "checkpoint_seq": 0, "checkpoint_time": utcnow()}


def _chain_existing_rows() -> tuple[int, str]:
    """Chain rows written before the chain existed, renumbered 1..n in their original order."""
    from exchange.audit import chain

    bind = op.get_bind()
    entry = sa.table(
        "audit_entry",
        sa.column("time", _TIME()),
        *(sa.column(c) for c in ("seq", "gateway", "actor", "action", "subject_index", "elements")),
        *(sa.column(c) for c in ("service_item", "case_no", "decision", "reason", "source", "query_id")),
        sa.column("response_digest"),
    )
    rows = [dict(r._mapping) for r in bind.execute(sa.select(entry).order_by(entry.c.seq))]
    if not rows:
        return 0, GENESIS
    records = list(chain.seal_all([_body(r) for r in rows], head_seq=0, head_hash=GENESIS))
    bind.execute(sa.text("DELETE FROM audit_entry"))
    table = sa.table("audit_entry", sa.column("time", _TIME()), *(sa.column(c) for c in _COLUMNS[1:]))
    bind.execute(sa.insert(table), [_columns(r) for r in records])
    return records[-1]["seq"], records[-1]["hash"]


# The row <-> record conversion as it was at this revision (the columns were still `actor` and
# `query_id`; a5_0002 renames them): frozen here, so later changes to exchange/audit cannot alter what
# this migration writes.
def _body(row: dict[str, Any]) -> dict[str, Any]:
    from exchange.audit import chain

    body = {f: row[f] for f in ("gateway", "action", "subject_index", "service_item", "case_no")}
    body |= {f: row[f] for f in ("decision", "reason", "source", "response_digest")}
    return body | {
        "time": chain.format_time(row["time"]),
        "event_id": uuid.uuid4().hex,
        "actor_department": row["actor"],
        "actor_system": None,
        "actor_user": None,
        "elements": json.loads(row["elements"] or "[]"),
        "request_id": row["query_id"],
    }


def _columns(record: dict[str, Any]) -> dict[str, Any]:
    from exchange.audit import chain

    columns = {c: record[c] for c in _COLUMNS if c not in ("actor", "query_id")}
    columns["time"] = chain.parse_time(record["time"])
    columns["elements"] = json.dumps(record["elements"], ensure_ascii=False)
    return columns | {"actor": record["actor_department"], "query_id": record["request_id"]}


_COLUMNS = (
    "time", "seq", "event_id", "gateway", "actor", "actor_system", "actor_user", "action", "subject_index",
    "elements", "service_item", "case_no", "decision", "reason", "source", "query_id", "response_digest",
    "prev_hash", "hash",
)  # fmt: skip


def downgrade() -> None:
    op.drop_table("audit_archive")
    op.drop_table("audit_key")
    op.drop_index("ix_audit_checkpoint_first_seq", table_name="audit_checkpoint")
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_event_id"))
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("actor_user")
        batch_op.drop_column("actor_system")
        batch_op.drop_column("event_id")
