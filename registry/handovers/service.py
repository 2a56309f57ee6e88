"""Source handover workflow: proposed (steward or current source) -> accepted | rejected (receiver)."""

from sqlalchemy import func
from sqlmodel import Session, col, select

from protocol.clock import utcnow
from protocol.errors import Conflict, InvalidRequest, NotFound
from registry import events
from registry.actors import Actor, require_steward_or
from registry.departments import service as departments
from registry.departments.models import Department
from registry.elements import service as elements
from registry.elements.models import INACTIVE_STATUSES, DataElement
from registry.errors import InvalidState
from registry.handovers.models import HandoverRead, SourceHandover
from registry.pagination import PageParams


def get_or_raise(*, session: Session, handover_id: int) -> SourceHandover:
    """Return the handover with this id, or raise NotFound."""
    handover = session.get(SourceHandover, handover_id)
    if handover is None:
        raise NotFound(f"no source handover {handover_id}")
    return handover


def open_for(*, session: Session, element: DataElement) -> SourceHandover | None:
    """The element's handover still waiting for a decision, if any."""
    return session.exec(
        select(SourceHandover).where(
            SourceHandover.element_id == element.id, SourceHandover.status == "proposed"
        )
    ).first()


def propose(*, session: Session, element: DataElement, to: str, actor: Actor, reason: str) -> SourceHandover:
    """Propose moving the element's source to another department (steward or the current source)."""
    current = elements.source_code(session=session, element=element)
    require_steward_or(actor, current, "propose a handover of this element")
    receiver = departments.get_by_code_or_raise(session=session, code=to)
    if receiver.code == current:
        raise InvalidRequest(f"{to!r} is already the source of {element.code!r}")
    if receiver.status != "active":
        raise InvalidRequest(f"department {to!r} is {receiver.status}")
    if element.status in INACTIVE_STATUSES:
        raise InvalidState(f"element {element.code!r} is {element.status}")
    if open_for(session=session, element=element) is not None:
        raise Conflict(f"element {element.code!r} already has a handover waiting for a decision")
    assert element.id is not None, "an element read from the database has an id"
    assert receiver.id is not None, "a department read from the database has an id"
    handover = SourceHandover(
        element_id=element.id,
        from_department_id=element.source_department_id,
        to_department_id=receiver.id,
        reason=reason,
        proposed_by=actor.label(),
    )
    return _stored(session, handover, element, "proposed")


def _stored(session: Session, handover: SourceHandover, element: DataElement, what: str) -> SourceHandover:
    session.add(handover)
    session.flush()
    events.record(
        session, type=f"handover.{what}", entity="handover", code=element.code, version=element.version
    )
    return handover


def _decide(session: Session, handover: SourceHandover, actor: Actor, what: str) -> DataElement:
    receiver = session.get(Department, handover.to_department_id)
    assert receiver is not None
    require_steward_or(actor, receiver.code, f"{what} this handover (the receiving department decides)")
    if handover.status != "proposed":
        raise InvalidState(f"handover {handover.id} is {handover.status}, not proposed")
    element = session.get(DataElement, handover.element_id)
    assert element is not None
    return element


def accept(*, session: Session, handover: SourceHandover, actor: Actor, note: str = "") -> SourceHandover:
    """The receiving department accepts: it becomes the one source, recorded in the element's history."""
    element = _decide(session, handover, actor, "accept")
    if element.source_department_id != handover.from_department_id:
        raise InvalidState("the element's source changed since the handover was proposed")
    receiver = session.get(Department, handover.to_department_id)
    assert receiver is not None
    handover.status, handover.decided_by, handover.decided_at = "accepted", actor.label(), utcnow()
    handover.decision_note = note
    elements.set_source(
        session=session,
        element=element,
        department=receiver,
        actor=actor,
        action="handover",
        reason=handover.reason,
    )
    return _stored(session, handover, element, "accepted")


def reject(*, session: Session, handover: SourceHandover, actor: Actor, note: str = "") -> SourceHandover:
    """The receiving department declines: the source stays."""
    element = _decide(session, handover, actor, "reject")
    handover.status, handover.decided_by, handover.decided_at = "rejected", actor.label(), utcnow()
    handover.decision_note = note
    return _stored(session, handover, element, "rejected")


def cancel_open(*, session: Session, element: DataElement, actor: Actor, note: str) -> None:
    """Cancel a waiting handover whose premise is gone (the source changed another way)."""
    handover = open_for(session=session, element=element)
    if handover is not None:
        handover.status, handover.decided_by, handover.decided_at = "cancelled", actor.label(), utcnow()
        handover.decision_note = note
        _stored(session, handover, element, "cancelled")


def list_(
    *,
    session: Session,
    page: PageParams,
    status: str | None = None,
    element: str | None = None,
    department: str | None = None,
) -> tuple[list[SourceHandover], int]:
    """A page of handovers (newest first), filtered by status, element or involved department."""
    stmt = select(SourceHandover)
    if status is not None:
        stmt = stmt.where(SourceHandover.status == status)
    if element is not None:
        stmt = stmt.where(
            col(SourceHandover.element_id).in_(select(DataElement.id).where(DataElement.code == element))
        )
    if department is not None:
        ids = select(Department.id).where(Department.code == department)
        stmt = stmt.where(
            col(SourceHandover.to_department_id).in_(ids) | col(SourceHandover.from_department_id).in_(ids)
        )
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    return list(
        session.exec(stmt.order_by(col(SourceHandover.id).desc()).offset(page.offset).limit(page.limit))
    ), total


def to_read(*, session: Session, handover: SourceHandover) -> HandoverRead:
    """The API view of a handover."""
    element = session.get(DataElement, handover.element_id)
    giver = session.get(Department, handover.from_department_id)
    receiver = session.get(Department, handover.to_department_id)
    assert element and giver and receiver
    return HandoverRead.model_validate(
        handover.model_dump()
        | {"element": element.code, "from_department": giver.code, "to_department": receiver.code}
    )
