"""The stewards' delivery board (every event newest first, each with its deliveries' states) and dead letters.

Metadata only (docs/events.md): the copies are ciphertext for their recipients and the subject is a
blind index, so neither is read here.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Row, func, or_, select

from exchange.events.models import Delivery, Event
from registry.pagination import PageParams

EV = Event.__table__  # type: ignore[attr-defined]
DL = Delivery.__table__  # type: ignore[attr-defined]
# Every column of a delivery but its copy.
_DELIVERY_COLUMNS = [c for c in DL.c if c.name != "copy_jwe"]
_EVENT_COLUMNS = [c for c in EV.c if c.name not in ("subject_index", "body_digest")]


def board(
    *,
    engine: Engine,
    page: PageParams,
    state: str | None = None,
    department: str | None = None,
    event_type: str | None = None,
) -> tuple[list[tuple[Row[Any], Sequence[Row[Any]]]], int]:
    """A page of events (with a delivery in `state`, of or to `department`, of `event_type`) and the total."""
    where: list[Any] = []
    if event_type:
        where.append(EV.c.type == event_type)
    if state or department:
        matching = select(DL.c.event_id)
        if state:
            matching = matching.where(DL.c.state == state)
        if department:
            matching = matching.where(DL.c.recipient == department)
        if department:
            where.append(or_(EV.c.publisher == department, EV.c.id.in_(matching)))
            if state:
                where.append(EV.c.id.in_(select(DL.c.event_id).where(DL.c.state == state)))
        else:
            where.append(EV.c.id.in_(matching))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(EV).where(*where)).scalar_one()
        events = conn.execute(
            select(*_EVENT_COLUMNS)
            .where(*where)
            .order_by(EV.c.published_at.desc(), EV.c.id)
            .limit(page.limit)
            .offset(page.offset)
        ).all()
        ids = [e.id for e in events]
        found = (
            conn.execute(
                select(*_DELIVERY_COLUMNS).where(DL.c.event_id.in_(ids)).order_by(DL.c.recipient)
            ).all()
            if ids
            else []
        )
    by_event: dict[str, list[Row[Any]]] = {}
    for d in found:
        by_event.setdefault(d.event_id, []).append(d)
    return [(e, by_event.get(e.id, [])) for e in events], total


# The states a steward may send a copy again from (service.MOVES["sent"]): the dead letters' page.
FAILED_STATES = ("dead_lettered", "overdue")


def dead_letters(
    *,
    engine: Engine,
    page: PageParams,
    state: str = "dead_lettered",
    event_type: str | None = None,
    publisher: str | None = None,
    recipient: str | None = None,
) -> tuple[list[Row[Any]], int]:
    """A page of deliveries in `state` (dead-lettered or overdue), the latest change first, each with its
    event's type, publisher and time (never the copy, never the subject); and the total."""
    where: list[Any] = [DL.c.state == state]
    if event_type:
        where.append(EV.c.type == event_type)
    if publisher:
        where.append(EV.c.publisher == publisher)
    if recipient:
        where.append(DL.c.recipient == recipient)
    joined = DL.join(EV, EV.c.id == DL.c.event_id)
    columns: list[Any] = [*_DELIVERY_COLUMNS, EV.c.type, EV.c.publisher, EV.c.published_at]
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one()
        found = conn.execute(
            select(*columns)
            .select_from(joined)
            .where(*where)
            .order_by(DL.c.updated_at.desc(), DL.c.id)
            .limit(page.limit)
            .offset(page.offset)
        ).all()
    return list(found), total
