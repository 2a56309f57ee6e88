"""Correction models: the table, and one model per direction (in, transition, out)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Index, LargeBinary
from sqlmodel import Column, SQLModel
from sqlmodel import Field as TableField

from exchange.corrections.states import OPEN, REASON_REQUIRED, State
from exchange.queries.models import QUERY_ID_PATTERN, ElementCode, SubjectIn
from protocol.clock import utcnow

DEPARTMENT_PATTERN = r"^[a-z][a-z0-9_-]{1,31}$"
# A reference to evidence the filer holds (a case file number, a document id), never the document.
EVIDENCE_REF_PATTERN = r"^[^\s<>\"'`\x00-\x1f][^<>\"'`\x00-\x1f]{0,199}$"


class Correction(SQLModel, table=True):
    """One correction; its history is on the audit chain (`correction.*` records)."""

    __tablename__ = "correction"
    __table_args__ = (Index("ix_correction_subject_state", "subject_index", "state"),)
    id: str = TableField(primary_key=True, max_length=32)
    element: str = TableField(max_length=80, index=True)
    subject_type: str = TableField(max_length=16)
    subject_index: str = TableField(max_length=64, description="the subject's blind index, never the id")
    query_id: str = TableField(max_length=64, description="the query through which the filer got the value")
    filer: str = TableField(max_length=32, index=True, description="the filing department")
    filed_by: str = TableField(max_length=64, description="the filing client system")
    source: str = TableField(max_length=32, index=True, description="the department it is routed to")
    state: str = TableField(max_length=16, index=True)
    problem: str = TableField(max_length=2000)
    # The filer's JWE to the source (never readable here), sealed at rest besides; filer and source only.
    proposed_sealed: bytes | None = TableField(default=None, sa_column=Column(LargeBinary, nullable=True))
    # The subject's identifier sealed by the gateway (never in the clear at rest): the recall copies
    # name the subject to each earlier receiver (protocol/recall.py). None for filings before c11_0002.
    subject_sealed: bytes | None = TableField(default=None, sa_column=Column(LargeBinary, nullable=True))
    evidence_ref: str | None = TableField(default=None, max_length=200)
    state_reason: str | None = TableField(default=None, max_length=500, description="why the last move")
    filed_at: datetime = TableField(default_factory=utcnow)
    routed_at: datetime = TableField(
        default_factory=utcnow, description="filed, or forwarded: deadlines count from it"
    )
    updated_at: datetime = TableField(default_factory=utcnow)
    take_up_due: datetime
    close_due: datetime
    accepted_at: datetime | None = TableField(default=None)
    closed_at: datetime | None = TableField(default=None)
    escalated_at: datetime | None = TableField(default=None, description="a deadline passed: stewards told")
    version: int = TableField(default=1, description="bumped by every change (optimistic concurrency)")


class CorrectionIn(BaseModel):
    """Body of POST /v1/corrections: which value is wrong, and the query that delivered it."""

    model_config = ConfigDict(extra="forbid")
    element: ElementCode
    subject: SubjectIn
    query_id: str = Field(pattern=QUERY_ID_PATTERN, description="the query through which the value came")
    problem: str = Field(
        min_length=1, max_length=2000, description="what is wrong (no more personal data than needed)"
    )
    proposed_value_jwe: str | None = Field(
        None,
        max_length=16_000,
        description="the value the filer believes right, end to end: a compact JWE to the element "
        "source's current encryption key holding a JWS signed by the filer (protocol/proposed_values.py; "
        "the SDK's `seal_proposed_value`). The gateway stores it as it came and never reads it",
    )
    evidence_ref: str | None = Field(
        None, pattern=EVIDENCE_REF_PATTERN, description="a reference to evidence (a file number), not a file"
    )


class TransitionIn(BaseModel):
    """Body of POST /v1/corrections/{id}/transitions: the state to move to, and why."""

    model_config = ConfigDict(extra="forbid")
    to: State
    reason: str | None = Field(
        None, min_length=1, max_length=500, description="required for rejected, wrong_source and a forward"
    )
    source: str | None = Field(
        None, pattern=DEPARTMENT_PATTERN, description="a steward's forward (`to: reported`): the new source"
    )

    @model_validator(mode="after")
    def _reason_and_source(self) -> "TransitionIn":
        if (self.to == "reported") != (self.source is not None):
            raise ValueError("`source` is given exactly when forwarding (`to: reported`)")
        if (self.to in REASON_REQUIRED or self.to == "reported") and self.reason is None:
            raise ValueError(f"moving to {self.to!r} needs a `reason`")
        return self


class CorrectionRead(BaseModel):
    """A correction as its filer, its source and the stewards see it."""

    id: str
    element: str
    subject_type: str
    query_id: str
    filer: str
    source: str
    state: State
    open: bool = Field(
        description="reported, accepted, in_progress or wrong_source: answers carry `disputed`"
    )
    problem: str
    proposed_value_jwe: str | None = Field(
        None, description="the filer's JWE to the source, shown to the filer and the source only"
    )
    evidence_ref: str | None
    state_reason: str | None
    filed_at: datetime
    routed_at: datetime
    updated_at: datetime
    take_up_due: datetime = Field(description="end of the working day by which the source must accept it")
    close_due: datetime = Field(description="end of the working day by which it must be closed")
    accepted_at: datetime | None
    closed_at: datetime | None
    escalated_at: datetime | None
    overdue: bool


def is_open(state: str) -> bool:
    """Whether a correction in this state still flags the value as disputed."""
    return state in OPEN


def read_of(row: Any, *, overdue: bool, proposed_value_jwe: str | None) -> CorrectionRead:
    """The read model of a stored row (its proposed value's JWE already unsealed, or withheld)."""
    fields = {name: getattr(row, name) for name in CorrectionRead.model_fields if hasattr(row, name)}
    shown = {"open": is_open(row.state), "overdue": overdue, "proposed_value_jwe": proposed_value_jwe}
    return CorrectionRead(**fields | shown)
