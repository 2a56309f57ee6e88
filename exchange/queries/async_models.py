"""The stored result of an asynchronous query, and the API bodies of its 202 and its polling."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import LargeBinary
from sqlmodel import Column, SQLModel
from sqlmodel import Field as TableField

from protocol.clock import utcnow

AsyncState = Literal["pending", "ready", "failed", "fetched", "expired"]


class AsyncResult(SQLModel, table=True):
    """One async query of a consumer: pending, then its answer sealed until fetched once, or expired.

    The answer is the QueryOut as the synchronous route would release it: every value in it is already
    a JWE to the consumer, and the whole is sealed at rest besides (exchange/crypto.py). The columns
    beside it are what the audit records of its fetches and callbacks need, never a value.
    """

    __tablename__ = "async_result"
    consumer: str = TableField(primary_key=True, max_length=32)
    query_id: str = TableField(primary_key=True, max_length=64)
    system: str | None = TableField(default=None, max_length=64)
    status: str = TableField(default="pending", max_length=16)
    result_sealed: bytes | None = TableField(default=None, sa_column=Column(LargeBinary, nullable=True))
    reason: str | None = TableField(default=None, max_length=64)  # a failed run's reason code
    callback_url: str | None = TableField(default=None, max_length=500)
    # What was asked (as the idempotency record digests it): a re-POST of the id must ask the same.
    request_digest: str | None = TableField(default=None, max_length=64)
    subject_index: str = TableField(max_length=64)
    service_item: str = TableField(max_length=64)
    case_no: str = TableField(max_length=64)
    on_behalf_of: str = TableField(max_length=64)
    created_at: datetime = TableField(default_factory=utcnow)
    expires_at: datetime = TableField(index=True)
    ready_at: datetime | None = None
    fetched_at: datetime | None = None


class AsyncAccepted(BaseModel):
    """Body of a `202 Accepted` to POST /v1/queries: poll `location` (GET) for the result."""

    query_id: str
    status: Literal["pending"] = "pending"
    location: str = Field(description="`/v1/queries/{query_id}`: GET it with the same system's token")


class AsyncPending(BaseModel):
    """Body of GET /v1/queries/{query_id} while the query runs (or when its run failed)."""

    query_id: str
    status: Literal["pending", "failed"]
    reason: str | None = Field(None, description="when `failed`: the reason code the sync route would give")
    detail: str | None = None


def location_of(query_id: str) -> str:
    """The query resource an async query is polled at."""
    return f"/v1/queries/{query_id}"
