"""Source disputes: a second department claiming an element, or registering a near-duplicate of one."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

DisputeKind = Literal["claim", "near_duplicate"]
DisputeStatus = Literal["open", "resolved"]
# keep: the source stays; handover: the claimant becomes the source; merge: the duplicate becomes an
# alias of the existing element; distinct: not a duplicate after all, the proposal is registered.
Resolution = Literal["keep", "handover", "merge", "distinct"]


class SourceDispute(SQLModel, table=True):
    """An open question about who is the one source of an element, for a steward to settle."""

    __tablename__ = "source_dispute"
    id: int | None = Field(default=None, primary_key=True)
    element_id: int = Field(foreign_key="data_element.id", nullable=False, index=True)
    claimant_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    kind: str = Field(max_length=16)
    proposal: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    score: float | None = Field(default=None, nullable=True)
    matched: str = Field(default="", max_length=420)
    reason: str = Field(default="", max_length=2000)
    status: str = Field(default="open", max_length=16, index=True)
    resolution: str | None = Field(default=None, max_length=16, nullable=True)
    resolution_note: str = Field(default="", max_length=2000)
    opened_by: str = Field(max_length=160)
    opened_at: datetime = Field(default_factory=utcnow)
    resolved_by: str | None = Field(default=None, max_length=160, nullable=True)
    resolved_at: datetime | None = Field(default=None, nullable=True)


class ClaimCreate(BaseModel):
    """Body of POST /v1/elements/{code}/claims: a department says it is the source."""

    model_config = ConfigDict(extra="forbid")
    department: str = Field(max_length=32)
    reason: str = Field(min_length=1, max_length=2000)


class DisputeResolve(BaseModel):
    """Body of POST /v1/disputes/{id}/resolve."""

    model_config = ConfigDict(extra="forbid")
    resolution: Resolution
    note: str = Field(default="", max_length=2000)


class DisputeRead(BaseModel):
    """A dispute as returned by the API."""

    id: int
    element: str
    source: str
    claimant: str
    kind: DisputeKind
    proposal: dict[str, Any] | None
    score: float | None
    matched: str
    reason: str
    status: DisputeStatus
    resolution: Resolution | None
    resolution_note: str
    opened_by: str
    opened_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
