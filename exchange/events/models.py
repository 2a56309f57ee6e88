"""Event and delivery models: the two tables, and one model per direction.

The gateway stores an event's metadata only (id, type, publisher, the subject's blind index, the
routing fields, time) and per recipient one delivery: its state and its copy, a JWE only the recipient
can open (ciphertext at rest, DESIGN.md §2.5), kept so that it can be redelivered.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from exchange.queries.models import SubjectIn
from protocol.clock import utcnow
from protocol.event_copies import EVENT_ID_PATTERN

DeliveryState = Literal["sent", "delivered", "acknowledged", "overdue", "dead_lettered"]
DELIVERY_ID_PATTERN = r"^[0-9a-f]{32}$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
DEPARTMENT_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
MAX_COPY_CHARS = 96 * 1024  # protocol/jose.py MAX_TOKEN_CHARS: a copy larger cannot be opened anyway


class Event(SQLModel, table=True):
    """One published event's metadata (never its payload)."""

    __tablename__ = "event"
    id: str = TableField(primary_key=True, max_length=48, description="the publisher's event_id")
    type: str = TableField(max_length=64, index=True)
    publisher: str = TableField(max_length=32, index=True)
    published_by: str = TableField(max_length=64, description="the publishing client system")
    subject_type: str = TableField(max_length=16)
    subject_index: str = TableField(max_length=64, index=True, description="blind index, never the id")
    routing: dict[str, Any] = TableField(sa_column=Column(JSON, nullable=False))
    body_digest: str = TableField(max_length=64, description="SHA-256 of the request: idempotency")
    published_at: datetime = TableField(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One recipient's copy of an event and where it stands."""

    __tablename__ = "event_delivery"
    __table_args__ = (Index("ix_event_delivery_due", "state", "next_attempt_at"),)
    id: str = TableField(primary_key=True, max_length=32)
    event_id: str = TableField(max_length=48, index=True)
    recipient: str = TableField(max_length=32, index=True)
    state: str = TableField(max_length=16)
    copy_jwe: str = TableField(sa_column=Column(Text, nullable=False))
    attempts: int = TableField(default=1, description="copies sent so far (the first one included)")
    next_attempt_at: datetime | None = TableField(default=None, description="when it is sent again")
    reason: str | None = TableField(default=None, max_length=64, description="why dead-lettered")
    updated_at: datetime = TableField(default_factory=utcnow)
    delivered_at: datetime | None = TableField(default=None)
    acknowledged_at: datetime | None = TableField(default=None)


class RecipientsIn(BaseModel):
    """Body of POST /v1/events/recipients: the event as the gateway will see it."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=64, description="e.g. `license.issued`")
    subject: SubjectIn
    routing: dict[str, Any] = Field(default_factory=dict, description="the type's routing fields")


class Recipient(BaseModel):
    """One recipient department and the encryption key its copy goes to."""

    department: str
    kid: str
    jwk: dict[str, Any]


class RecipientsOut(BaseModel):
    """Who receives the event now, each with its current encryption key."""

    type: str
    recipients: list[Recipient]


class EventIn(RecipientsIn):
    """Body of POST /v1/events: the event's metadata and one copy per recipient."""

    event_id: str = Field(pattern=EVENT_ID_PATTERN, description="chosen by the publisher: idempotency key")
    copies: dict[str, str] = Field(
        max_length=200, description="recipient department -> its copy (JWE compact, docs/events.md)"
    )


class DeliveryRead(BaseModel):
    """A delivery as the publisher and the recipient see it (never the copy)."""

    id: str
    event_id: str
    type: str
    publisher: str
    recipient: str
    routing: dict[str, Any]
    state: DeliveryState
    attempts: int
    reason: str | None
    published_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    acknowledged_at: datetime | None


class EventRead(BaseModel):
    """An event as its publisher sees it: metadata and each delivery's state."""

    event_id: str
    type: str
    publisher: str
    subject_type: str
    routing: dict[str, Any]
    published_at: datetime
    deliveries: list[DeliveryRead]


class DeadLetterIn(BaseModel):
    """Body of POST /v1/deliveries/{id}/dead_lettered: why the recipient could not use its copy."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", description="e.g. `invalid_signature`")


class CopyOut(BaseModel):
    """A delivery's copy for a recipient that pulls (GET /v1/deliveries/{id}/copy)."""

    copy_jwe: str = Field(description="the JWE compact only the recipient can open")
    headers: dict[str, str] = Field(description="what the copy carries as Kafka headers (routing, ids)")
