"""Consent requests (单独同意): a query's elements that wait for the subject's consent, and the answer.

One row per query that asked for such elements: who asks (department, system, caseworker), about whom
(the blind index; the identifier only sealed by the gateway, to ask the source once approved), for
which elements, service item and case, its state and, once approved, the answer (already encrypted to
the consumer per element, as any query answer; sealed again at rest).
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from exchange.queries.models import QueryOut
from protocol.clock import utcnow

ConsentState = Literal["pending", "approved", "refused", "expired"]
CONSENT_ID_PATTERN = r"^[0-9a-f]{32}$"


class ConsentRequest(SQLModel, table=True):
    """One query's request for the subject's consent."""

    __tablename__ = "consent_request"
    __table_args__ = (Index("ix_consent_request_subject_state", "subject_index", "state"),)
    id: str = TableField(primary_key=True, max_length=32)
    consumer: str = TableField(max_length=32, index=True)
    system: str | None = TableField(default=None, max_length=64)
    on_behalf_of: str = TableField(max_length=64)
    subject_type: str = TableField(max_length=16)
    subject_index: str = TableField(max_length=64)
    subject_sealed: bytes = TableField(sa_column=Column(LargeBinary, nullable=False))
    elements: list[str] = TableField(sa_column=Column(JSON, nullable=False))
    service_item: str = TableField(max_length=64)
    case_no: str = TableField(max_length=64)
    query_id: str = TableField(max_length=64, description="the query that asked")
    state: str = TableField(max_length=16, index=True)
    created_at: datetime = TableField(default_factory=utcnow)
    expires_at: datetime
    answered_at: datetime | None = TableField(default=None)
    grant_until: datetime | None = TableField(default=None, description="an approval holds until then")
    answer_sealed: bytes | None = TableField(default=None, sa_column=Column(LargeBinary, nullable=True))


class ConsentDecisionIn(BaseModel):
    """Body of POST /v1/transparency/consents/{id}: the citizen's answer."""

    decision: Literal["approve", "refuse"]


class ConsentForCitizen(BaseModel):
    """A consent request as the subject sees it (who asks, what, for which service and case)."""

    id: str
    department: str
    department_name: str | None
    elements: list[str]
    element_names: list[str | None]
    service_item: str
    service_item_name: str | None
    case_no: str
    state: ConsentState
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None


class ConsentForConsumer(BaseModel):
    """A consent request as the asking department sees it; `answer` once approved and asked."""

    id: str
    query_id: str
    elements: list[str]
    state: ConsentState
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    answer: QueryOut | None = Field(
        None, description="the consented elements' answer (query `consent-<id>`), encrypted to the consumer"
    )
