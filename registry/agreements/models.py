"""Sharing agreements for conditional elements (有条件共享)."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

AgreementStatus = Literal["requested", "approved", "rejected", "revoked", "expired"]


class SharingAgreement(SQLModel, table=True):
    """A consumer department's right to read one conditional element for one service item."""

    __tablename__ = "sharing_agreement"
    id: int | None = Field(default=None, primary_key=True)
    consumer_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    element_id: int = Field(foreign_key="data_element.id", nullable=False, index=True)
    service_item_id: int = Field(foreign_key="service_item.id", nullable=False)
    legal_basis: str = Field(max_length=500)
    status: str = Field(default="requested", max_length=16)
    valid_from: datetime
    valid_until: datetime
    created_at: datetime = Field(default_factory=utcnow)
    requested_by: str = Field(default="", max_length=160)
    decision_due: datetime | None = Field(default=None, nullable=True)
    decided_by: str | None = Field(default=None, max_length=160, nullable=True)
    decided_at: datetime | None = Field(default=None, nullable=True)
    decision_reason: str = Field(default="", max_length=2000)
    revoked_by: str | None = Field(default=None, max_length=160, nullable=True)
    revoked_at: datetime | None = Field(default=None, nullable=True)
    revoke_reason: str = Field(default="", max_length=2000)


class AgreementCreate(BaseModel):
    """Body of POST /v1/agreements: a consumer's request (or a steward's record of an approved one)."""

    model_config = ConfigDict(extra="forbid")
    consumer: str = Field(max_length=32, description="the requesting (consumer) department")
    element: str = Field(max_length=80)
    service_item: str = Field(
        max_length=64, description="the purpose: the service item that needs the element"
    )
    legal_basis: str = Field(min_length=1, max_length=500)
    # Aware only: a naive time cannot be stored (UTCDateTime refuses it) nor compared with an aware one.
    valid_from: AwareDatetime = Field(description="requested start of validity")
    valid_until: AwareDatetime = Field(description="requested end of validity")
    status: Literal["requested", "approved"] = Field(
        "requested", description="`approved` records an agreement decided outside the system (interim)"
    )


class AgreementDecision(BaseModel):
    """Body of POST /v1/agreements/{id}/approve: the source may narrow the validity window."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class AgreementReason(BaseModel):
    """Body of reject and revoke: the reason is required."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class AgreementRead(BaseModel):
    """A sharing agreement as returned by the API."""

    id: int
    consumer: str
    element: str
    source: str
    service_item: str
    legal_basis: str
    status: AgreementStatus
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    requested_by: str
    decision_due: datetime | None
    overdue: bool
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    revoked_by: str | None
    revoked_at: datetime | None
    revoke_reason: str
