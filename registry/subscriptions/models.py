"""Subscriptions (审管互动 双告知): which department receives which event types from which source."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
ROUTING_FIELD_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class Condition(BaseModel):
    """One condition on an event's routing metadata; every condition of a subscription must hold.

    `equals`: the field has this value; `in`: its value is one of these; `contains`: its text holds
    this text, or its list holds this item (e.g. `business_scope` contains 食品). Evaluated by
    registry/policy.py, on the routing fields the event type declares (docs/events.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: Annotated[str, StringConstraints(pattern=ROUTING_FIELD_PATTERN)]
    op: Literal["equals", "in", "contains"]
    value: str | bool | int | list[str] = Field(description="a list for `in`, a scalar otherwise")


class Subscription(SQLModel, table=True):
    """One subscriber's event types from one source department, with conditions on routing fields."""

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("subscriber_department_id", "source_department_id", name="uq_subscription_pair"),
    )
    id: int | None = Field(default=None, primary_key=True)
    subscriber_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    source_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Condition dicts (model above); empty: every event of the types goes to the subscriber.
    conditions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SubscriptionCreate(BaseModel):
    """Body of POST /v1/subscriptions."""

    model_config = ConfigDict(extra="forbid")
    subscriber: str = Field(max_length=32)
    source: str = Field(max_length=32)
    event_types: list[str] = Field(min_length=1, max_length=50, description="e.g. `license.issued`")
    conditions: list[Condition] = Field(
        default_factory=list, max_length=10, description="on the events' routing fields; all must hold"
    )


class SubscriptionUpdate(BaseModel):
    """Body of PUT /v1/subscriptions/{id}."""

    model_config = ConfigDict(extra="forbid")
    event_types: list[str] = Field(min_length=1, max_length=50)
    conditions: list[Condition] = Field(default_factory=list, max_length=10)


class SubscriptionRead(BaseModel):
    """A subscription as returned by the API."""

    id: int
    subscriber: str
    source: str
    event_types: list[str]
    conditions: list[Condition]
    created_at: datetime
    updated_at: datetime
