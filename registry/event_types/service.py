"""Event-type rules: one source per type, a safe payload schema, routing fields the schema declares."""

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from protocol.errors import Conflict, InvalidRequest, NotFound
from protocol.recall import RECALL_TYPE
from registry import events
from registry.actors import Actor, require_steward
from registry.departments import service as departments
from registry.departments.models import Department
from registry.elements.service import check_value_schema
from registry.event_types.models import EventType, EventTypeCreate, EventTypeRead
from registry.pagination import PageParams

# The JSON types a routing field may have: what a condition can compare (registry/policy.py).
_ROUTABLE_TYPES = frozenset({"string", "boolean", "integer", "array"})


def _check_payload_schema(schema: dict[str, Any], routing_fields: list[str]) -> None:
    """The payload is an object, its schema is safe, and every routing field is one of its
    required, comparable top-level properties (an optional one could not be routed on)."""
    check_value_schema(schema)
    if schema.get("type") != "object":
        raise InvalidRequest("payload_schema must describe an object (`type: object`)")
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    for name in routing_fields:
        prop = properties.get(name)
        if not isinstance(prop, dict) or name not in required:
            raise InvalidRequest(f"routing field {name!r} is not a required property of payload_schema")
        if prop.get("type") not in _ROUTABLE_TYPES:
            raise InvalidRequest(f"routing field {name!r} must be a string, boolean, integer or array")


def get_or_raise(*, session: Session, code: str) -> EventType:
    """The event type with this code, or NotFound."""
    found = session.exec(select(EventType).where(EventType.code == code)).first()
    if found is None:
        raise NotFound(f"no event type {code[:64]!r}")
    return found


def create(*, session: Session, event_type_in: EventTypeCreate, actor: Actor) -> EventType:
    """Register an event type with its one source department (a steward: the catalogue is a platform's)."""
    require_steward(actor, "register an event type")
    if event_type_in.code == RECALL_TYPE:
        # The exchange's own event (protocol/recall.py): a department registered as its source could
        # publish "recalls" that connectors would take for the exchange's word.
        raise Conflict(f"event type {RECALL_TYPE!r} is the exchange's own and cannot be registered")
    source = departments.get_by_code_or_raise(session=session, code=event_type_in.source)
    routing = sorted(set(event_type_in.routing_fields))
    _check_payload_schema(event_type_in.payload_schema, routing)
    if session.exec(select(EventType).where(EventType.code == event_type_in.code)).first() is not None:
        # One source per type (一数一源): a second department cannot register the same type.
        raise Conflict(f"event type {event_type_in.code!r} is registered already")
    assert source.id is not None, "a department read from the database has an id"
    event_type = EventType(
        code=event_type_in.code,
        name=event_type_in.name,
        source_department_id=source.id,
        payload_schema=event_type_in.payload_schema,
        routing_fields=routing,
    )
    session.add(event_type)
    session.flush()
    events.record(session, type="event_type.created", entity="event_type", code=event_type.code)
    return event_type


def list_(*, session: Session, page: PageParams, source: str | None = None) -> tuple[list[EventType], int]:
    """A page of event types (optionally of one source department), and the total."""
    stmt = select(EventType)
    if source is not None:
        stmt = stmt.where(
            col(EventType.source_department_id).in_(select(Department.id).where(Department.code == source))
        )
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(EventType.code)).offset(page.offset).limit(page.limit))
    return list(rows), total


def sources_of(*, session: Session, codes: list[str]) -> dict[str, str]:
    """Registered event types among `codes` -> their source department's code."""
    rows = session.exec(
        select(EventType.code, Department.code)
        .join(Department, col(Department.id) == EventType.source_department_id)
        .where(col(EventType.code).in_(codes))
    )
    return dict(rows.all())


def to_read(*, session: Session, event_type: EventType) -> EventTypeRead:
    """The API view of an event type."""
    source = session.get(Department, event_type.source_department_id)
    assert source is not None
    return EventTypeRead(
        code=event_type.code,
        name=event_type.name,
        source=source.code,
        payload_schema=event_type.payload_schema,
        routing_fields=list(event_type.routing_fields),
        status="retired" if event_type.status == "retired" else "active",
        created_at=event_type.created_at,
        updated_at=event_type.updated_at,
    )
