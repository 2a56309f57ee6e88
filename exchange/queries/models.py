"""Query API models and the idempotency record."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import LargeBinary
from sqlmodel import Column, SQLModel
from sqlmodel import Field as TableField

from exchange.audit.writer import IdempotentInsert
from protocol.clock import utcnow
from protocol.identifiers import SubjectType

ResultStatus = Literal["ok", "denied", "not_found", "unavailable", "pending_consent"]
QUERY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$"
ELEMENT_CODE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
# Case numbers (办件编号) differ by region and may hold Chinese characters (e.g. 浙住建〔2026〕12号):
# letters and digits of any script and a few separators; no spaces, quotes, markup or control characters.
CASE_NO_PATTERN = r"^\w[\w\-./:#()（）〔〕【】]{0,63}$"
SERVICE_ITEM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# The caseworker's user id within the consumer department (e.g. `wang.li@zjj`), as its own system knows it.
ON_BEHALF_OF_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"
ElementCode = Annotated[str, Field(max_length=80, pattern=ELEMENT_CODE)]


class SubjectIn(BaseModel):
    """Whom the query is about: a citizen (resident ID) or an enterprise (USCC)."""

    model_config = ConfigDict(extra="forbid")
    type: SubjectType
    id: str = Field(min_length=1, max_length=32, description="GB 11643 resident ID or GB 32100 USCC")


class PurposeIn(BaseModel):
    """Why: the service item (政务服务事项) and the case number (办件编号)."""

    model_config = ConfigDict(extra="forbid")
    service_item: str = Field(
        pattern=SERVICE_ITEM_PATTERN, description="Service item code, e.g. `330100-GZF-001`"
    )
    case_no: str = Field(pattern=CASE_NO_PATTERN)


class QueryIn(BaseModel):
    """Body of POST /v1/queries."""

    model_config = ConfigDict(extra="forbid")
    query_id: str = Field(pattern=QUERY_ID_PATTERN, description="Idempotency key chosen by the caller")
    subject: SubjectIn
    elements: list[ElementCode] = Field(
        min_length=1, max_length=500, description="Element codes, e.g. `person.name`"
    )
    purpose: PurposeIn
    on_behalf_of: str = Field(
        pattern=ON_BEHALF_OF_PATTERN,
        description="The caseworker (经办人) the system asks for: a user id within the consumer "
        "department, written to every audit record of the query (`actor_user`)",
    )
    requested_at: AwareDatetime = Field(
        description="When the caller sent the query (RFC 3339 with offset): outside the gateway's freshness "
        "window (SHUYUAN_REQUEST_MAX_SKEW_S, ±5 min) it is refused, so a captured request cannot be "
        "replayed later. Not part of the idempotency key: a retry may carry a new time."
    )
    callback_url: str | None = Field(
        None,
        max_length=500,
        description="async only: where to POST the signed 'result ready' callback; must be one of the "
        "calling system's registered callback URLs (`400 callback_not_registered` otherwise)",
    )
    callback: bool = Field(
        False, description="async only: call back the system's one registered callback URL"
    )


class ElementResult(BaseModel):
    """The outcome for one requested element."""

    code: str
    status: ResultStatus
    reason: str | None = Field(None, description="A reason code of DESIGN.md §6 when status is not `ok`")
    source: str | None = Field(None, description="The element's source department, when known")
    jwe: str | None = Field(
        None,
        description="When `ok`: the value signed by the source (JWS, compact) and encrypted to the "
        "consumer department (JWE, compact). The gateway never sees values; the consumer SDK "
        "(connectors/client.py) decrypts and verifies it.",
    )
    # Added by the gateway outside the source's signed value, and decided afresh for every response
    # (a replay too): a correction of this element for this subject is open (异议标注, docs/corrections.md).
    disputed: bool = Field(
        False, description="an open correction says this value may be wrong: check before relying on it"
    )
    correction_id: str | None = Field(None, description="the open correction, when `disputed`")
    consent_id: str | None = Field(
        None,
        description="when `pending_consent`: the consent request the subject answers on the citizen page; "
        "GET /v1/consents/{id} gives its state and, once approved, the element's answer",
    )


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
    # None while the query is being answered (the query_id is claimed before any source is asked).
    response_sealed: bytes | None = TableField(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = TableField(default_factory=utcnow)


def idempotency_record(
    *, consumer: str, query_id: str, request_digest: str, response_sealed: bytes
) -> IdempotentInsert:
    """A query's idempotency record, for the audit writer to commit with the query's release record.

    It completes the claim made before the sources were asked (`response_sealed` set where it is
    still None), so one query_id is released once. Principle 6: the answer is released only once both
    are committed, in one transaction (embedded), or once the audit events are acknowledged and then
    the record committed (Kafka).
    """
    values = {
        "consumer": consumer,
        "query_id": query_id,
        "request_digest": request_digest,
        "response_sealed": response_sealed,
        "created_at": utcnow(),  # the record expires SHUYUAN_QUERY_RECORD_TTL_S after this
    }
    # `__table__` is set by SQLAlchemy but undeclared in SQLModel's typing.
    return IdempotentInsert(
        QueryRecord.__table__,  # type: ignore[attr-defined]
        values,
        complete=("response_sealed", "created_at"),
    )
