"""Restrictions: a department hides one of its accesses from the citizen's view until an embargo date."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from protocol.clock import utcnow


class TransparencyRestriction(SQLModel, table=True):
    """One restriction; several may name one query (the latest embargo wins), none is ever edited."""

    __tablename__ = "transparency_restriction"
    id: int | None = Field(default=None, primary_key=True)
    query_id: str = Field(max_length=64, index=True)
    department: str = Field(max_length=64, description="the department that made the query")
    embargo_until: datetime = Field(description="the access stays hidden from the citizen until then")
    reason: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(max_length=64, description="the client system that asked for it")
    # Beyond the short default (approval_after_days) an embargo needs a steward's or the security
    # officer's approval: until then it hides the access for the default only. Revision t5_0002.
    approved_at: datetime | None = Field(default=None)
    approved_by: str | None = Field(default=None, max_length=64, description="the approving system")
