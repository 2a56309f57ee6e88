"""Source handovers: the one source of an element changes, proposed and accepted explicitly."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

HandoverStatus = Literal["proposed", "accepted", "rejected", "cancelled"]


class SourceHandover(SQLModel, table=True):
    """A proposal to move an element's source from one department to another."""

    __tablename__ = "source_handover"
    id: int | None = Field(default=None, primary_key=True)
    element_id: int = Field(foreign_key="data_element.id", nullable=False, index=True)
    from_department_id: int = Field(foreign_key="department.id", nullable=False)
    to_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    status: str = Field(default="proposed", max_length=16, index=True)
    reason: str = Field(default="", max_length=2000)
    proposed_by: str = Field(max_length=160)
    proposed_at: datetime = Field(default_factory=utcnow)
    decided_by: str | None = Field(default=None, max_length=160, nullable=True)
    decided_at: datetime | None = Field(default=None, nullable=True)
    decision_note: str = Field(default="", max_length=2000)


class HandoverCreate(BaseModel):
    """Body of POST /v1/handovers."""

    model_config = ConfigDict(extra="forbid")
    element: str = Field(max_length=80)
    to: str = Field(max_length=32, description="the department that is to become the source")
    reason: str = Field(min_length=1, max_length=2000)


class HandoverDecision(BaseModel):
    """Body of accept and reject."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)


class HandoverRead(BaseModel):
    """A handover as returned by the API."""

    id: int
    element: str
    from_department: str
    to_department: str
    status: HandoverStatus
    reason: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
