"""Sharing agreements for conditional elements (有条件共享)."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

from protocol.envelope import utcnow

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


class AgreementCreate(BaseModel):
    """Body of POST /v1/agreements (the full request/decide workflow comes with the registry issue)."""

    model_config = ConfigDict(extra="forbid")
    consumer: str
    element: str
    service_item: str
    legal_basis: str = Field(min_length=1, max_length=500)
    # Aware only: a naive time cannot be stored (UTCDateTime refuses it) nor compared with an aware one.
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    status: Literal["requested", "approved"] = "requested"


class AgreementRead(BaseModel):
    """A sharing agreement as returned by the API."""

    id: int
    consumer: str
    element: str
    service_item: str
    legal_basis: str
    status: AgreementStatus
    valid_from: datetime
    valid_until: datetime
