"""The event-type catalogue (双告知 / 审管互动): what may be published, by whom, with which payload.

Every event type has exactly one source department, as every element has (一数一源, DESIGN.md §2.1):
only that department's systems may publish it. Its payload has a JSON Schema (the same safe subset
as value schemas, protocol/value_schema.py); `routing_fields` are the payload properties the
publisher also sends in the clear as routing metadata, because the gateway never sees the payload
itself (each recipient's copy is encrypted to it) and subscriptions' conditions can only look at
what the gateway sees (docs/events.md).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow
from registry.subscriptions.models import EVENT_TYPE_PATTERN, ROUTING_FIELD_PATTERN

EventTypeStatus = Literal["active", "retired"]


class EventType(SQLModel, table=True):
    """One registered event type and its one source department."""

    __tablename__ = "event_type"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    source_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    payload_schema: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    routing_fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class EventTypeCreate(BaseModel):
    """Body of POST /v1/event-types."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(
        max_length=64, description="e.g. `license.issued`", schema_extra={"pattern": EVENT_TYPE_PATTERN}
    )
    name: str = Field(min_length=1, max_length=200, description="e.g. 许可证核发")
    source: str = Field(max_length=32, description="the one department that publishes it")
    payload_schema: dict[str, Any] = Field(description="JSON Schema of the payload (an object)")
    routing_fields: list[Annotated[str, StringConstraints(pattern=ROUTING_FIELD_PATTERN)]] = Field(
        default_factory=list,
        max_length=10,
        description="payload properties also sent in the clear for subscriptions' conditions",
    )


class EventTypeRead(BaseModel):
    """An event type as returned by the API."""

    code: str
    name: str
    source: str
    payload_schema: dict[str, Any]
    routing_fields: list[str]
    status: EventTypeStatus
    created_at: datetime
    updated_at: datetime
