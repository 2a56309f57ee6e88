"""Query API models and the idempotency record."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import LargeBinary
from sqlmodel import Column, SQLModel
from sqlmodel import Field as TableField

from protocol.envelope import utcnow
from protocol.identifiers import SubjectType

ResultStatus = Literal["ok", "denied", "not_found", "unavailable"]
QUERY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$"
ELEMENT_CODE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
# Case numbers (办件编号) differ by region and may hold Chinese characters; refuse control characters.
CASE_NO_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"


class SubjectIn(BaseModel):
    """Whom the query is about: a citizen (resident ID) or an enterprise (USCC)."""

    model_config = ConfigDict(extra="forbid")
    type: SubjectType
    id: str = Field(min_length=1, max_length=32, description="GB 11643 resident ID or GB 32100 USCC")


class PurposeIn(BaseModel):
    """Why: the service item (政务服务事项) and the case number (办件编号)."""

    model_config = ConfigDict(extra="forbid")
    service_item: str = Field(min_length=1, max_length=64)
    case_no: str = Field(pattern=CASE_NO_PATTERN)


class QueryIn(BaseModel):
    """Body of POST /v1/queries."""

    model_config = ConfigDict(extra="forbid")
    query_id: str = Field(pattern=QUERY_ID_PATTERN, description="Idempotency key chosen by the caller")
    subject: SubjectIn
    elements: list[str] = Field(min_length=1, max_length=500, description="Element codes, e.g. `person.name`")
    purpose: PurposeIn


class ElementResult(BaseModel):
    """The outcome for one requested element."""

    code: str
    status: ResultStatus
    reason: str | None = Field(None, description="A reason code of DESIGN.md §6 when status is not `ok`")
    source: str | None = Field(None, description="The element's source department, when known")
    value: Any = None


class QueryOut(BaseModel):
    """Response of POST /v1/queries: one result per requested element, in request order."""

    query_id: str
    status: Literal["complete", "partial"]
    results: list[ElementResult]


class QueryRecord(SQLModel, table=True):
    """What makes `query_id` an idempotency key; the answer is stored sealed, never in the clear."""

    __tablename__ = "query_record"
    consumer: str = TableField(primary_key=True, max_length=32)
    query_id: str = TableField(primary_key=True, max_length=64)
    request_digest: str = TableField(max_length=64)
    response_sealed: bytes = TableField(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = TableField(default_factory=utcnow)
