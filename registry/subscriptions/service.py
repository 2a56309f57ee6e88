"""Subscription rules: one subscription per (subscriber, source), with a set of event types."""

import re

from sqlalchemy import func
from sqlmodel import Session, col, select

from protocol.clock import utcnow
from protocol.errors import Conflict, InvalidRequest, NotFound
from registry import events
from registry.actors import Actor, require_steward
from registry.departments import service as departments
from registry.departments.models import Department
from registry.event_types.models import EventType
from registry.event_types.service import sources_of
from registry.pagination import PageParams
from registry.subscriptions.models import (
    EVENT_TYPE_PATTERN,
    Condition,
    Subscription,
    SubscriptionCreate,
    SubscriptionRead,
)

_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)


def _event_types(values: list[str]) -> list[str]:
    bad = [v for v in values if len(v) > 64 or not _EVENT_TYPE.match(v)]
    if bad:
        raise InvalidRequest(f"not an event type (e.g. license.issued): {bad[0][:64]!r}")
    return sorted(set(values))


def _check_types_and_conditions(
    session: Session, *, source: str, types: list[str], conditions: list[Condition]
) -> list[dict[str, object]]:
    """A registered type must come from the subscription's source (one source per type), and each
    condition must name a routing field every registered type of the subscription declares."""
    sources = sources_of(session=session, codes=types)
    wrong = sorted(t for t, s in sources.items() if s != source)
    if wrong:
        raise InvalidRequest(f"event type {wrong[0]!r} is published by {sources[wrong[0]]!r}, not {source!r}")
    routed = [
        set(e.routing_fields) for e in session.exec(select(EventType).where(col(EventType.code).in_(types)))
    ]
    for condition in conditions:
        if any(condition.field not in fields for fields in routed) or not routed:
            raise InvalidRequest(
                f"condition on {condition.field!r}: not a routing field of every registered event type here"
            )
        if (condition.op == "in") != isinstance(condition.value, list):
            raise InvalidRequest(f"condition on {condition.field!r}: `in` takes a list, the others a value")
    return [c.model_dump() for c in conditions]


def get_or_raise(*, session: Session, subscription_id: int) -> Subscription:
    """Return the subscription with this id, or raise NotFound."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound(f"no subscription {subscription_id}")
    return subscription


def create(*, session: Session, subscription_in: SubscriptionCreate, actor: Actor) -> Subscription:
    """Subscribe a department to event types of a source (a steward: who is told what is a platform rule)."""
    require_steward(actor, "create a subscription")
    subscriber = departments.get_by_code_or_raise(session=session, code=subscription_in.subscriber)
    source = departments.get_by_code_or_raise(session=session, code=subscription_in.source)
    if subscriber.id == source.id:
        raise InvalidRequest("a department does not subscribe to itself")
    types = _event_types(subscription_in.event_types)
    conditions = _check_types_and_conditions(
        session, source=source.code, types=types, conditions=subscription_in.conditions
    )
    existing = session.exec(
        select(Subscription).where(
            Subscription.subscriber_department_id == subscriber.id,
            Subscription.source_department_id == source.id,
        )
    ).first()
    if existing is not None:
        raise Conflict(
            f"subscription {existing.id} of {subscriber.code!r} to {source.code!r} exists: update it"
        )
    assert subscriber.id is not None and source.id is not None, "departments read from the database have ids"
    subscription = Subscription(
        subscriber_department_id=subscriber.id,
        source_department_id=source.id,
        event_types=types,
        conditions=conditions,
    )
    return _stored(session, subscription, "created")


def update(
    *,
    session: Session,
    subscription: Subscription,
    event_types: list[str],
    conditions: list[Condition] | None = None,
    actor: Actor,
) -> Subscription:
    """Replace the event types and the conditions of a subscription."""
    require_steward(actor, "change a subscription")
    types = _event_types(event_types)
    source = session.get(Department, subscription.source_department_id)
    assert source is not None
    subscription.conditions = _check_types_and_conditions(
        session, source=source.code, types=types, conditions=conditions or []
    )
    subscription.event_types = types
    subscription.updated_at = utcnow()
    return _stored(session, subscription, "updated")


def delete(*, session: Session, subscription: Subscription, actor: Actor) -> None:
    """End a subscription."""
    require_steward(actor, "end a subscription")
    code = str(subscription.id)
    session.delete(subscription)
    session.flush()
    events.record(session, type="subscription.deleted", entity="subscription", code=code)


def _subscriber(session: Session, subscription: Subscription) -> str:
    dept = session.get(Department, subscription.subscriber_department_id)
    assert dept is not None
    return dept.code


def _stored(session: Session, subscription: Subscription, what: str) -> Subscription:
    session.add(subscription)
    session.flush()
    events.record(session, type=f"subscription.{what}", entity="subscription", code=str(subscription.id))
    return subscription


def list_(
    *, session: Session, page: PageParams, subscriber: str | None = None, source: str | None = None
) -> tuple[list[Subscription], int]:
    """A page of subscriptions, filtered by subscriber or source, and the total."""
    stmt = select(Subscription)
    for column, code in (
        (Subscription.subscriber_department_id, subscriber),
        (Subscription.source_department_id, source),
    ):
        if code is not None:
            stmt = stmt.where(col(column).in_(select(Department.id).where(Department.code == code)))
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(Subscription.id)).offset(page.offset).limit(page.limit))
    return list(rows), total


def to_read(*, session: Session, subscription: Subscription) -> SubscriptionRead:
    """The API view of a subscription."""
    source = session.get(Department, subscription.source_department_id)
    assert source is not None
    return SubscriptionRead(
        id=subscription.id,
        subscriber=_subscriber(session, subscription),
        source=source.code,
        event_types=list(subscription.event_types),
        conditions=[Condition.model_validate(c) for c in subscription.conditions or []],
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
    )
