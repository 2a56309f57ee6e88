"""Events: who may publish, who receives, the stored rows, and the deliveries' moves.

Plain functions over the engine, run in a thread by the API and the redelivery task. Each move's audit
record is written by the caller before the move is stored (fail closed, api.py); these only decide
and store. A move is a conditional update on the state it starts from, so a lost race changes nothing.
"""

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, func, select, update

from exchange.audit.writer import IdempotentInsert
from exchange.events.models import Delivery, DeliveryRead, Event, EventIn, EventRead, Recipient
from exchange.events.routing import routing_problem
from protocol.errors import Denied, InvalidRequest, NotFound, Unavailable
from protocol.event_copies import copy_headers
from protocol.jose import canonical
from protocol.reasons import Reason
from registry.catalogue import Catalogue
from registry.keys.directory import KeySnapshot
from registry.pagination import PageParams
from registry.policy import event_recipients, publish_reason

# SQLModel's typing does not declare the `__table__` SQLAlchemy gives each table class, hence the ignores.
EV = Event.__table__  # type: ignore[attr-defined]
DL = Delivery.__table__  # type: ignore[attr-defined]
# Where each move may start from. Acknowledged wins over everything (a late ack is still recorded, and a
# forged copy that got a delivery dead-lettered is overruled by the genuine one's ack).
MOVES: dict[str, frozenset[str]] = {
    "delivered": frozenset({"sent", "overdue"}),
    "acknowledged": frozenset({"sent", "delivered", "overdue", "dead_lettered"}),
    "dead_lettered": frozenset({"sent", "delivered"}),
    "overdue": frozenset({"sent", "delivered"}),
    # Only a steward's redelivery (exchange/events/steward.py) moves a delivery back to `sent`.
    "sent": frozenset({"dead_lettered", "overdue"}),
}
UNACKNOWLEDGED = ("sent", "delivered")


def recipients_or_raise(
    catalogue: Catalogue, *, publisher: str, event_type: str, routing: Mapping[str, Any]
) -> list[str]:
    """The event's recipients after the publish checks: the source check, then the routing check."""
    reason = publish_reason(catalogue, publisher=publisher, event_type=event_type)
    if reason is not None:
        raise Denied(f"department {publisher!r} may not publish {event_type!r}", reason=reason)
    problem = routing_problem(catalogue.event_types[event_type], routing)
    if problem is not None:
        raise InvalidRequest(problem, reason=Reason.INVALID_EVENT_PAYLOAD)
    return event_recipients(catalogue, publisher=publisher, event_type=event_type, routing=routing)


def recipient_keys(keys: KeySnapshot, recipients: Sequence[str]) -> list[Recipient]:
    """Each recipient's current encryption key; Unavailable if one has none (it could not open a copy)."""
    out = []
    for dept in recipients:
        valid = keys.valid(dept, "enc")
        if not valid:
            raise Unavailable(f"recipient {dept!r} has no valid encryption key")
        out.append(Recipient(department=dept, kid=valid[-1].kid, jwk=valid[-1].jwk))
    return out


def body_digest(event_in: EventIn) -> str:
    """SHA-256 of what the gateway can compare of a publish: the same event_id with other metadata or
    recipients is a conflict. Not the copies themselves: encryption is randomised, so a publisher that
    retries after a lost response re-seals them, and must still get the stored event."""
    seen = event_in.model_dump(mode="json", exclude={"copies"}) | {"recipients": sorted(event_in.copies)}
    return hashlib.sha256(canonical(seen)).hexdigest()


def delivery_id(event_id: str, recipient: str) -> str:
    """A delivery's id, derived from its event and recipient: a retried publish names the same one."""
    return hashlib.sha256(f"{event_id}\x00{recipient}".encode()).hexdigest()[:32]


def rows(
    event_in: EventIn,
    *,
    publisher: str,
    system: str,
    subject_index: str,
    now: datetime,
    first_retry_s: float,
) -> list[IdempotentInsert]:
    """The event's row, then one delivery row per copy, for the audit writer to commit with the records."""
    event = {
        "id": event_in.event_id,
        "type": event_in.type,
        "publisher": publisher,
        "published_by": system,
        "subject_type": event_in.subject.type,
        "subject_index": subject_index,
        "routing": event_in.routing,
        "body_digest": body_digest(event_in),
        "published_at": now,
    }
    deliveries = [
        delivery_row(event_in.event_id, dept, copy, now=now, first_retry_s=first_retry_s)
        for dept, copy in sorted(event_in.copies.items())
    ]
    return [IdempotentInsert(EV, event), *(IdempotentInsert(DL, d) for d in deliveries)]


def delivery_row(
    event_id: str, recipient: str, copy: str, *, now: datetime, first_retry_s: float
) -> dict[str, Any]:
    """A new delivery's row: sent once now, due again after the first backoff."""
    return {
        "id": delivery_id(event_id, recipient),
        "event_id": event_id,
        "recipient": recipient,
        "state": "sent",
        "copy_jwe": copy,
        "attempts": 1,
        "next_attempt_at": now + timedelta(seconds=first_retry_s),
        "reason": None,
        "updated_at": now,
        "delivered_at": None,
        "acknowledged_at": None,
    }


def get_event(*, engine: Engine, event_id: str) -> Row[Any] | None:
    """The stored event, or None."""
    with engine.connect() as conn:
        return conn.execute(select(EV).where(EV.c.id == event_id)).first()


def _read(delivery: Row[Any], event: Row[Any]) -> DeliveryRead:
    values = {k: getattr(delivery, k) for k in DeliveryRead.model_fields if k in delivery._fields}
    return DeliveryRead(
        **values,
        type=event.type,
        publisher=event.publisher,
        routing=event.routing,
        published_at=event.published_at,
    )


def read_event(*, engine: Engine, event_id: str, publisher: str) -> EventRead:
    """The event and its deliveries, for its publisher only (anyone else: not found)."""
    event = get_event(engine=engine, event_id=event_id)
    if event is None or event.publisher != publisher:
        raise NotFound(f"no event {event_id!r} of department {publisher!r}")
    with engine.connect() as conn:
        found = conn.execute(select(DL).where(DL.c.event_id == event_id).order_by(DL.c.recipient)).all()
    return EventRead(
        event_id=event.id,
        type=event.type,
        publisher=event.publisher,
        subject_type=event.subject_type,
        routing=event.routing,
        published_at=event.published_at,
        deliveries=[_read(d, event) for d in found],
    )


def delivery_or_raise(
    *, engine: Engine, delivery_id: str, recipient: str | None
) -> tuple[Row[Any], Row[Any]]:
    """The delivery and its event; NotFound unless it is `recipient`'s (None: the gateway's own task)."""
    with engine.connect() as conn:
        found = conn.execute(select(DL).where(DL.c.id == delivery_id)).first()
        event = conn.execute(select(EV).where(EV.c.id == found.event_id)).first() if found else None
    if found is None or event is None or (recipient is not None and found.recipient != recipient):
        raise NotFound(
            f"no delivery {delivery_id!r}" + (f" to department {recipient!r}" if recipient else "")
        )
    return found, event


def headers_of(delivery: Row[Any], event: Row[Any]) -> list[tuple[str, bytes]]:
    """The headers a delivery's copy travels with (on Kafka, or with a pulled copy)."""
    return copy_headers(
        event_id=event.id,
        delivery_id=delivery.id,
        type=event.type,
        publisher=event.publisher,
        recipient=delivery.recipient,
        routing=event.routing,
    )


def read_delivery(delivery: Row[Any], event: Row[Any]) -> DeliveryRead:
    """The read model of a delivery row (never its copy)."""
    return _read(delivery, event)


def list_deliveries(
    *, engine: Engine, recipient: str, state: str | None, page: PageParams
) -> tuple[list[DeliveryRead], int]:
    """The recipient's deliveries, newest first, optionally in one state; and how many there are."""
    where = [DL.c.recipient == recipient] + ([DL.c.state == state] if state else [])
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(DL).where(*where)).scalar_one()
        found = conn.execute(
            select(DL, EV.c.type, EV.c.publisher, EV.c.routing, EV.c.published_at)
            .join(EV, EV.c.id == DL.c.event_id)
            .where(*where)
            .order_by(EV.c.published_at.desc(), DL.c.id)
            .limit(page.limit)
            .offset(page.offset)
        ).all()
    return [DeliveryRead(**{k: getattr(r, k) for k in DeliveryRead.model_fields}) for r in found], total


def move(*, engine: Engine, delivery: Row[Any], to: str, now: datetime, reason: str | None = None) -> bool:
    """Move a delivery to `to` if it is still in the state it was read in; False if it was not."""
    if to == "sent":
        raise ValueError("a delivery goes back to `sent` by `resend` only (its attempts start again)")
    if delivery.state not in MOVES[to]:
        return False
    values: dict[str, Any] = {"state": to, "updated_at": now}
    if to == "delivered":
        values["delivered_at"] = now
    if to == "acknowledged":
        values |= {"acknowledged_at": now, "next_attempt_at": None, "reason": None}
    if to in ("dead_lettered", "overdue"):
        values |= {"next_attempt_at": None, "reason": reason}
    with engine.begin() as conn:
        changed = conn.execute(
            update(DL).where(DL.c.id == delivery.id, DL.c.state == delivery.state).values(**values)
        ).rowcount
    return bool(changed)


def resend(*, engine: Engine, delivery: Row[Any], now: datetime, first_retry_s: float) -> bool:
    """Move a dead-lettered or overdue delivery back to `sent`, its attempts counted from one again (the
    redelivery task then retries it as a new copy); False if it is no longer in the state it was read in."""
    if delivery.state not in MOVES["sent"]:
        return False
    values = {
        "state": "sent",
        "attempts": 1,
        "next_attempt_at": now + timedelta(seconds=first_retry_s),
        "reason": None,
        "updated_at": now,
    }
    with engine.begin() as conn:
        changed = conn.execute(
            update(DL).where(DL.c.id == delivery.id, DL.c.state == delivery.state).values(**values)
        ).rowcount
    return bool(changed)


def due(*, engine: Engine, now: datetime, limit: int = 100) -> list[tuple[Row[Any], Row[Any]]]:
    """Unacknowledged deliveries whose next attempt is due, oldest first, with their events."""
    with engine.connect() as conn:
        found = conn.execute(
            select(DL)
            .where(DL.c.state.in_(UNACKNOWLEDGED), DL.c.next_attempt_at <= now)
            .order_by(DL.c.next_attempt_at)
            .limit(limit)
        ).all()
        ids = {d.event_id for d in found}
        events = {e.id: e for e in conn.execute(select(EV).where(EV.c.id.in_(ids)))} if ids else {}
    return [(d, events[d.event_id]) for d in found if d.event_id in events]


def reschedule(*, engine: Engine, delivery: Row[Any], now: datetime, backoff_s: float) -> bool:
    """Count one more attempt and set the next (exponential backoff); False if it moved meanwhile."""
    next_at = now + timedelta(seconds=backoff_s * 2**delivery.attempts)
    with engine.begin() as conn:
        changed = conn.execute(
            update(DL)
            .where(DL.c.id == delivery.id, DL.c.attempts == delivery.attempts, DL.c.state.in_(UNACKNOWLEDGED))
            .values(attempts=delivery.attempts + 1, next_attempt_at=next_at, updated_at=now)
        ).rowcount
    return bool(changed)
