"""Subscriptions (审管互动 双告知): which department receives which event types from which source."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


class Subscription(SQLModel, table=True):
    """One subscriber's event types from one source department (delivery comes with the events issue)."""

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("subscriber_department_id", "source_department_id", name="uq_subscription_pair"),
    )
    id: int | None = Field(default=None, primary_key=True)
    subscriber_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    source_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SubscriptionCreate(BaseModel):
    """Body of POST /v1/subscriptions."""

    model_config = ConfigDict(extra="forbid")
    subscriber: str = Field(max_length=32)
    source: str = Field(max_length=32)
    event_types: list[str] = Field(min_length=1, max_length=50, description="e.g. `license.issued`")


class SubscriptionUpdate(BaseModel):
    """Body of PUT /v1/subscriptions/{id}."""

    model_config = ConfigDict(extra="forbid")
    event_types: list[str] = Field(min_length=1, max_length=50)


class SubscriptionRead(BaseModel):
    """A subscription as returned by the API."""

    id: int
    subscriber: str
    source: str
    event_types: list[str]
    created_at: datetime
    updated_at: datetime
