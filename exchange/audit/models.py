"""Audit records: who asked what about whom, why, and what was decided. Never values."""

from datetime import datetime

from sqlalchemy import BigInteger, Integer
from sqlmodel import Column, Field, SQLModel

from protocol.envelope import utcnow


class AuditEntry(SQLModel, table=True):
    """One step of a query (the audit issue chains and signs these)."""

    __tablename__ = "audit_entry"
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only that type is an auto-incrementing rowid.
    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    time: datetime = Field(default_factory=utcnow, index=True)
    gateway: str = Field(max_length=64)
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=32)
    subject_index: str | None = Field(default=None, max_length=64, index=True)
    elements: str = Field(default="[]", max_length=8000, description="JSON list of element codes")
    service_item: str | None = Field(default=None, max_length=64)
    case_no: str | None = Field(default=None, max_length=64)
    decision: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    source: str | None = Field(default=None, max_length=32)
    query_id: str | None = Field(default=None, max_length=64, index=True)
    response_digest: str | None = Field(default=None, max_length=64)
