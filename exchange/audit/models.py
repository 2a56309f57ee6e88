"""Audit tables: the chained records, the chain head, signed checkpoints, audit keys and archives.

Audit records say who asked what about whom, why, and what was decided. Never values: subjects
appear only as their blind index and answers only as a SHA-256 digest.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Integer, Text
from sqlmodel import Column, Field, SQLModel

from protocol.clock import utcnow

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class AuditEntry(SQLModel, table=True):
    """One chained audit record (fields and hash rule in exchange/audit/chain.py); the columns are named
    as the record's fields (exchange/audit/events.py `AuditRecord`)."""

    __tablename__ = "audit_entry"
    # Given by the chain writer (head seq + 1), never by the database: the seq is part of the hash.
    seq: int | None = Field(
        default=None,
        sa_column=Column(_BIGINT, primary_key=True, autoincrement=False),
    )
    time: datetime = Field(default_factory=utcnow, index=True)
    event_id: str | None = Field(default=None, max_length=64, unique=True, index=True)
    gateway: str | None = Field(default=None, max_length=64)
    actor_department: str | None = Field(
        default=None, max_length=64, index=True, description="the acting department"
    )
    actor_system: str | None = Field(default=None, max_length=64)
    actor_user: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=32)
    subject_index: str | None = Field(default=None, max_length=64, index=True)
    elements: str = Field(default="[]", max_length=8000, description="JSON list of element codes")
    service_item: str | None = Field(default=None, max_length=64)
    case_no: str | None = Field(default=None, max_length=64)
    decision: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    source: str | None = Field(default=None, max_length=32)
    request_id: str | None = Field(default=None, max_length=64, index=True, description="the query id")
    response_digest: str | None = Field(default=None, max_length=64)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The one row every chain writer locks: last seq and hash, and the last checkpoint."""

    __tablename__ = "audit_chain_head"
    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_column=Column(_BIGINT, nullable=False))
    hash: str = Field(max_length=64)
    checkpoint_seq: int = Field(default=0, sa_column=Column(_BIGINT, nullable=False))
    checkpoint_time: datetime = Field(default_factory=utcnow)


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement over records first_seq..last_seq: their Merkle root and the last hash."""

    __tablename__ = "audit_checkpoint"
    last_seq: int = Field(sa_column=Column(_BIGINT, primary_key=True, autoincrement=False))
    first_seq: int = Field(sa_column=Column(_BIGINT, nullable=False, index=True))
    merkle_root: str = Field(max_length=64)
    last_hash: str = Field(max_length=64)
    time: datetime = Field(default_factory=utcnow)
    kid: str = Field(max_length=64)
    signature: str = Field(max_length=128, description="base64url Ed25519 signature")
    tree_root: str | None = Field(default=None, max_length=64, description="root of seq 1..last_seq")
    # Not signed: the log-wide tree at last_seq as {size, nodes} (merkle.Frontier), from which the next
    # checkpoint's tree_root and a consistency proof from this size are computed without older records.
    frontier: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Not signed by the audit key: the witnesses' co-signatures of tree_root, a JSON list of
    # {witness, public_key_pem, origin, timestamp, signature} (exchange/audit/cosignature.py), kept
    # with the checkpoint they sign and leaving with it when it is archived.
    cosignatures: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AuditKey(SQLModel, table=True):
    """A public audit key, so an export can ship every key its checkpoints were signed with."""

    __tablename__ = "audit_key"
    kid: str = Field(primary_key=True, max_length=64)
    public_key_pem: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class AuditArchive(SQLModel, table=True):
    """A range moved out of the database into an archive bundle (the chain continues across them)."""

    __tablename__ = "audit_archive"
    last_seq: int = Field(sa_column=Column(_BIGINT, primary_key=True, autoincrement=False))
    first_seq: int = Field(sa_column=Column(_BIGINT, nullable=False))
    last_hash: str = Field(max_length=64)
    path: str = Field(max_length=1000)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    # The log-wide tree at last_seq (as AuditCheckpoint.frontier): the online records continue it.
    frontier: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
